//! The Cranelift JIT for the CPU backend's memory-bound kernels: fused
//! elementwise bodies and fused row reductions (softmax, layer norm,
//! reduce_* over trailing axes).
//!
//! A body is lowered to a small typed program (`prog.rs`), then emitted at
//! f32x4 and scalar width (`emit.rs`, `math.rs`) inside a loop nest
//! (`ew_gen.rs`, `reduce_gen.rs`), and compiled (≈1 ms) to position-
//! independent machine code for a CPU level ([`Sink`]). The kernel objects
//! that call it live in the runtime (`ingot_runtime::jit`), so in-memory
//! models and loaded artifacts run the same code the same way. Shapes are
//! read at run time, so symbolic batch sizes need no recompilation.
//!
//! Guarantees: what cannot be compiled exactly (or within the documented
//! error of `math.rs`) is an `Err`, never wrong code; the lead's lowering
//! then uses the interpreter kernel. Cranelift 0.135's x64 backend lowers
//! only 128-bit vectors, hence f32x4.

mod code;
mod emit;
mod ew_gen;
pub(crate) mod math;
mod predict;
pub(crate) mod prog;
mod reduce_gen;
mod reduce_lower;
mod reduce_plan;

pub(crate) use code::isa_for;
pub use code::CpuLevel;
pub use ingot_runtime::jit::{ElementwiseKernel, ReduceKernel, PAR_MIN};

use code::Features;
use cranelift_codegen::isa::OwnedTargetIsa;
use ingot_ir::{Graph, Op, TensorType};
use ingot_runtime::code::CodeImage;
use ingot_runtime::jit::{CodeGen, EwSpec, Pattern, ReduceSpec};
use ingot_runtime::spec::CodeSource;
use std::sync::Arc;

/// Why a body could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JitError {
    #[error("jit: `{op}` is not supported: {why}")]
    Unsupported { op: String, why: String },
    #[error("jit: code generation failed: {0}")]
    Codegen(String),
}

/// Patterns beyond the predicted one that an ahead-of-time build compiles
/// for an elementwise body with this many inputs the body reads: all of
/// them up to this count, else each single flip of the prediction.
const AOT_ALL_PATTERNS_UP_TO: usize = 3;

/// Collects the machine code of every kernel of one compile, and the
/// bodies for patterns met later ([`JitGen`]).
pub struct Sink {
    level: CpuLevel,
    isa: OwnedTargetIsa,
    feat: Features,
    /// Also compile the patterns a run may meet besides the predicted one
    /// (artifacts, which cannot compile at run time).
    aot: bool,
    blobs: Vec<Vec<u8>>,
    gen: JitGen,
}

impl Sink {
    pub fn new(level: CpuLevel, aot: bool) -> Result<Sink, JitError> {
        let (isa, feat) = isa_for(level)?;
        Ok(Sink {
            level,
            isa,
            feat,
            aot,
            blobs: vec![],
            gen: JitGen {
                level,
                ew: vec![],
                red: vec![],
            },
        })
    }

    pub fn level(&self) -> CpuLevel {
        self.level
    }

    /// Compile a `fused {kind="elementwise"}` body (body inputs = kernel
    /// inputs, body outputs = kernel outputs).
    pub fn elementwise(&mut self, body: &Graph) -> Result<EwSpec, JitError> {
        let prog = prog::lower_elementwise(body)?;
        let primary = predict::elementwise(body, &prog);
        let mut pats = vec![primary.clone()];
        if self.aot {
            let rel: Vec<usize> = (0..prog.inputs.len())
                .filter(|&k| prog.inputs[k].is_some())
                .collect();
            if rel.len() <= AOT_ALL_PATTERNS_UP_TO {
                for m in 1..(1usize << rel.len()) {
                    let mut p = primary.clone();
                    for (bit, &k) in rel.iter().enumerate() {
                        p[k] ^= m >> bit & 1 == 1;
                    }
                    pats.push(p);
                }
            } else {
                for &k in &rel {
                    let mut p = primary.clone();
                    p[k] = !p[k];
                    pats.push(p);
                }
            }
        }
        let (isa, feat) = (self.isa.clone(), self.feat);
        let variants = self.compile_variants(pats, |p| ew_gen::compile(&prog, p, &isa, feat))?;
        let spec = EwSpec {
            inputs: prog.inputs.iter().map(|t| t.map(|t| t.dtype())).collect(),
            outputs: prog.out_tys().iter().map(|t| t.dtype()).collect(),
            ops: body.order().len(),
            variants,
            gen_id: self.gen.ew.len(),
        };
        self.gen.ew.push(prog);
        Ok(spec)
    }

    /// Compile a `fused {kind="reduce"}` body (row reductions over the
    /// trailing axes of one row space with elementwise producers and
    /// consumers; see `reduce_lower.rs` for the contract). f32 (and bool)
    /// values only.
    pub fn reduce(&mut self, body: &Graph) -> Result<ReduceSpec, JitError> {
        let rp = reduce_lower::lower_reduce(body)?;
        let primary = predict::reduce(body, &rp);
        let mut pats = vec![primary.clone()];
        if self.aot {
            for k in (0..rp.prog.inputs.len()).filter(|&k| rp.prog.inputs[k].is_some()) {
                let mut p = primary.clone();
                p.contig[k] = !p.contig[k];
                pats.push(p);
            }
        }
        let (isa, feat) = (self.isa.clone(), self.feat);
        let variants =
            self.compile_variants(pats, |p| reduce_gen::compile(&rp.prog, p, &isa, feat))?;
        let spec = ReduceSpec {
            inputs: rp
                .prog
                .inputs
                .iter()
                .map(|t| t.map(|t| t.dtype()))
                .collect(),
            outputs: rp.prog.out_tys().iter().map(|t| t.dtype()).collect(),
            ops: body.order().len(),
            k: rp.k,
            s: rp.s.clone(),
            in_space: rp.in_space.clone(),
            out_space: rp.out_space.clone(),
            variants,
            gen_id: self.gen.red.len(),
        };
        self.gen.red.push(rp);
        Ok(spec)
    }

    /// Compile each pattern with `gen`, keeping the code; the first (the
    /// predicted one) must compile, others that fail are left out.
    fn compile_variants<P>(
        &mut self,
        pats: Vec<P>,
        gen: impl Fn(&P) -> Result<Vec<u8>, JitError>,
    ) -> Result<Vec<(P, usize)>, JitError> {
        let mut variants = vec![];
        for (i, p) in pats.into_iter().enumerate() {
            match gen(&p) {
                Ok(code) => {
                    variants.push((p, self.blobs.len()));
                    self.blobs.push(code);
                }
                Err(e) if i == 0 => return Err(e),
                Err(_) => {}
            }
        }
        Ok(variants)
    }

    /// Map the code executable. Returns the source kernels are built from
    /// (with a code generator for patterns met at run time) and the
    /// functions' bytes (what an artifact stores).
    pub fn finish(self) -> Result<(CodeSource, Vec<Vec<u8>>), String> {
        let refs: Vec<&[u8]> = self.blobs.iter().map(|b| b.as_slice()).collect();
        // SAFETY: every blob came out of `compile_func` for this level (the
        // host's, or one the caller checked): the kernel ABI, no relocations.
        let image = unsafe { CodeImage::new(&refs)? };
        let gen: Arc<dyn CodeGen> = Arc::new(self.gen);
        Ok((
            CodeSource {
                image,
                gen: Some(gen),
            },
            self.blobs,
        ))
    }
}

/// The bodies a compile lowered, for compiling patterns met at run time.
struct JitGen {
    level: CpuLevel,
    ew: Vec<prog::Prog>,
    red: Vec<reduce_lower::ReduceProg>,
}

impl CodeGen for JitGen {
    fn elementwise(&self, id: usize, contig: &[bool]) -> Result<Vec<u8>, String> {
        let prog = self.ew.get(id).ok_or("no such elementwise body")?;
        let (isa, feat) = isa_for(self.level).map_err(|e| e.to_string())?;
        ew_gen::compile(prog, contig, &isa, feat).map_err(|e| e.to_string())
    }

    fn reduce(&self, id: usize, pat: &Pattern) -> Result<Vec<u8>, String> {
        let rp = self.red.get(id).ok_or("no such reduce body")?;
        let (isa, feat) = isa_for(self.level).map_err(|e| e.to_string())?;
        reduce_gen::compile(&rp.prog, pat, &isa, feat).map_err(|e| e.to_string())
    }
}

/// Compile one elementwise body on its own, for the host (tests, tools).
pub fn compile_elementwise(body: &Graph) -> Result<Arc<ElementwiseKernel>, JitError> {
    let mut sink = Sink::new(CpuLevel::Host, false)?;
    let spec = sink.elementwise(body)?;
    let (src, _) = sink.finish().map_err(JitError::Codegen)?;
    Ok(Arc::new(
        ElementwiseKernel::new(spec, &src.image, src.gen).map_err(JitError::Codegen)?,
    ))
}

/// Compile one reduce body on its own, for the host (tests, tools).
pub fn compile_reduce(body: &Graph) -> Result<Arc<ReduceKernel>, JitError> {
    let mut sink = Sink::new(CpuLevel::Host, false)?;
    let spec = sink.reduce(body)?;
    let (src, _) = sink.finish().map_err(JitError::Codegen)?;
    Ok(Arc::new(
        ReduceKernel::new(spec, &src.image, src.gen).map_err(JitError::Codegen)?,
    ))
}

/// A one-node body applying `op` to inputs of types `ins`, with one result
/// of type `out`, for compiling a single op with the same machinery.
pub fn single_op_body(op: &Op, ins: &[TensorType], out: &TensorType) -> Graph {
    let mut g = Graph::new("single");
    let vs: Vec<_> = ins
        .iter()
        .enumerate()
        .map(|(k, t)| {
            g.add_input(&format!("x{k}"), t.clone())
                .expect("fresh names")
        })
        .collect();
    let n = g.push_node(op.clone(), vs, vec![out.clone()]);
    let r = g.node(n).outputs[0];
    g.set_outputs(vec![r]);
    g
}

#[cfg(test)]
mod tests;
