//! Owning compiled code: a finalized `JITModule` kept alive (and freed) by
//! the kernel object that calls into it, and the host ISA it targets.
//!
//! Assumptions: code is generated for the host (cranelift-native) with
//! `opt_level=speed`; the module is never mutated after
//! `finalize_definitions`, so sharing it across threads is sound.

use super::JitError;
use cranelift_codegen::ir::{types, AbiParam, Function, Signature, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

/// What the host ISA offers that the emitters care about.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Features {
    /// `fma` lowers to `vfmadd` (otherwise it would be a libcall).
    pub fma: bool,
    /// Vector/scalar `floor`/`ceil`/`nearest` lower to `roundps`/`roundss`.
    pub sse41: bool,
}

/// The host ISA with `opt_level=speed`, and its features.
pub(crate) fn host_isa() -> Result<(OwnedTargetIsa, Features), JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| JitError::Codegen(format!("flag {k}={v}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    let builder = cranelift_native::builder().map_err(|e| JitError::Codegen(e.to_string()))?;
    let isa = builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError::Codegen(e.to_string()))?;
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

/// The Rust type of a kernel function (see [`kernel_signature`]).
pub(crate) type KernelFn = unsafe extern "C" fn(i64, i64, *const *mut u8, *const i64);

/// A finalized JIT module and the one function it holds.
pub(crate) struct Code {
    module: Option<JITModule>,
    f: KernelFn,
}

// SAFETY: the module is finalized before `Code` exists and never mutated
// again; its code pages are read-only and executable, and the function reads
// only what its arguments point to, so calling it from many threads at once
// is sound. `JITModule` is not `Sync` only because of its (unused) builder
// state.
unsafe impl Send for Code {}
// SAFETY: as above.
unsafe impl Sync for Code {}

impl Code {
    /// Compile `func` (built with [`kernel_signature`]) into its own module.
    pub(crate) fn compile(isa: OwnedTargetIsa, mut func: Function) -> Result<Code, JitError> {
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let sig = func.signature.clone();
        let id = module
            .declare_function("kernel", Linkage::Local, &sig)
            .map_err(|e| JitError::Codegen(e.to_string()))?;
        func.name = UserFuncName::user(0, id.as_u32());
        let mut ctx = Context::for_function(func);
        module
            .define_function(id, &mut ctx)
            .map_err(|e| JitError::Codegen(format!("{e:?}")))?;
        module
            .finalize_definitions()
            .map_err(|e| JitError::Codegen(e.to_string()))?;
        let ptr = module.get_finalized_function(id);
        // SAFETY: the function was declared with `kernel_signature`, which is
        // `KernelFn`'s ABI (four i64/pointer arguments, no result).
        let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) };
        Ok(Code {
            module: Some(module),
            f,
        })
    }

    /// Call the function.
    ///
    /// # Safety
    /// `ptrs`/`row_strides` describe buffers valid for every access the
    /// function makes with `rows` and `len` (see the kernel's docs).
    pub(crate) unsafe fn call(&self, rows: usize, len: usize, ptrs: &[*mut u8], strides: &[i64]) {
        (self.f)(rows as i64, len as i64, ptrs.as_ptr(), strides.as_ptr())
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: `Code` owns the only pointer into the module's code,
            // and it dies here.
            unsafe { m.free_memory() };
        }
    }
}
