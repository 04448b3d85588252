//! Turning a Cranelift function into position-independent machine code
//! for a chosen CPU level, and the ISA settings the emitters read.
//!
//! Code is generated with `opt_level=speed` and must come out without
//! relocations: our kernels call nothing and keep their constants in the
//! function's own constant pool (PC-relative), so the bytes run wherever
//! they are mapped (`ingot_runtime::code`). A relocation (a libcall the
//! level would need, e.g. `fma` without FMA) is an error, never a patch.

use super::JitError;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types, AbiParam, Function, Signature};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
pub use ingot_runtime::artifact::CpuLevel;

/// What the ISA offers that the emitters care about.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Features {
    /// `fma` lowers to `vfmadd` (otherwise it would be a libcall).
    pub fma: bool,
    /// Vector/scalar `floor`/`ceil`/`nearest` lower to `roundps`/`roundss`.
    pub sse41: bool,
}

/// The ISA for `level` with `opt_level=speed`, and its features.
pub(crate) fn isa_for(level: CpuLevel) -> Result<(OwnedTargetIsa, Features), JitError> {
    let cg = |e: &dyn std::fmt::Display| JitError::Codegen(e.to_string());
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| JitError::Codegen(format!("flag {k}={v}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "true")?;
    let builder = match level {
        CpuLevel::Host => cranelift_native::builder().map_err(|e| cg(&e))?,
        CpuLevel::X86_64V3 | CpuLevel::X86_64V4 => {
            let mut b = cranelift_codegen::isa::lookup_by_name("x86_64-unknown-linux-gnu")
                .map_err(|e| cg(&e))?;
            let preset = if level == CpuLevel::X86_64V3 {
                "x86-64-v3"
            } else {
                "x86-64-v4"
            };
            b.enable(preset).map_err(|e| cg(&e))?;
            b.enable("has_avx").map_err(|e| cg(&e))?;
            if level == CpuLevel::X86_64V4 {
                b.enable("has_avx512f").map_err(|e| cg(&e))?;
            }
            b
        }
    };
    let isa = builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| cg(&e))?;
    let flag = |name: &str| {
        isa.isa_flags()
            .iter()
            .any(|v| v.name == name && v.as_bool() == Some(true))
    };
    let features = Features {
        fma: flag("has_fma"),
        sse41: flag("has_sse41"),
    };
    Ok((isa, features))
}

/// The signature every kernel function has:
/// `fn(rows: i64, len: i64, ptrs: *const *mut u8, row_strides: *const i64)`.
pub(crate) fn kernel_signature(isa: &OwnedTargetIsa) -> Signature {
    let mut sig = Signature::new(isa.default_call_conv());
    for _ in 0..4 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

/// Compile `func` (built with [`kernel_signature`]) to relocation-free
/// machine code.
pub(crate) fn compile_func(isa: &OwnedTargetIsa, func: Function) -> Result<Vec<u8>, JitError> {
    let mut ctx = Context::for_function(func);
    let code = ctx
        .compile(&**isa, &mut ControlPlane::default())
        .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
    if let Some(r) = code.buffer.relocs().first() {
        return Err(JitError::Codegen(format!(
            "kernel needs an external symbol ({:?}): not position independent",
            r.target
        )));
    }
    Ok(code.code_buffer().to_vec())
}
