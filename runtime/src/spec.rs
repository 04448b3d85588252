//! A compiled program as serializable data, and building the runnable
//! [`Program`] from it.
//!
//! The compiler lowers a graph to a [`ProgramSpec`] plus machine code (one
//! function per JIT'd access pattern); [`build_program`] turns that into
//! kernel objects. Compiling in memory and loading an `.ingot` artifact both
//! go through `build_program`, so the two cannot drift apart.
//!
//! A spec read from a file is untrusted: [`ProgramSpec::validate`] checks
//! every index before anything is built, the executor checks that each
//! arena buffer fits its slot, and kernels check their operands' shapes and
//! dtypes when they run.

use crate::code::CodeImage;
use crate::exec::Model;
use crate::jit::{CodeGen, ElementwiseKernel, EwSpec, ReduceKernel, ReduceSpec};
use crate::kernel::{Arg, Ctx, Kernel, KernelError, RangeKernel};
use crate::kernels::{contraction_kernel, movement::movement_kernel, Epilogue};
use crate::program::{ArenaSlot, BufInfo, Loc, Program, Step, StepKind};
use ingot_ir::{Op, Tensor, TensorType};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How one step computes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum KernelSpec {
    /// The reference interpreter runs the op.
    Fallback(Op),
    /// A runtime micro-kernel for `op` (contraction, pool, data movement,
    /// cast, reduction, normalization) on the step's first `n_inputs`
    /// operands, whose constant operands (weights) it may pre-pack; with an
    /// elementwise epilogue reading the result and the step's operands at
    /// `extra`.
    Op {
        op: Op,
        n_inputs: usize,
        n_outputs: usize,
        epilogue: Option<(EwSpec, Vec<usize>)>,
    },
    /// Generated code for a fused elementwise body.
    Elementwise(EwSpec),
    /// Generated code for a fused row reduction.
    Reduce(ReduceSpec),
    /// A fused body run as its own small program on one thread.
    Body {
        what: String,
        program: Box<ProgramSpec>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepSpec {
    pub kind: KernelSpec,
    pub ins: Vec<usize>,
    pub outs: Vec<usize>,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BufSpec {
    pub ty: TensorType,
    pub loc: LocSpec,
    pub name: String,
}

/// [`Loc`], serializable.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LocSpec {
    Input(usize),
    Const(usize),
    Arena(usize),
    Dynamic,
}

/// [`Program`] as data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramSpec {
    pub name: String,
    pub bufs: Vec<BufSpec>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// Constants. An artifact stores the top level's in their own sections
    /// (this list is empty in its plan); nested bodies keep theirs here.
    pub consts: Vec<Tensor>,
    pub slots: Vec<(ingot_ir::Dim, ingot_ir::Dim)>,
    pub steps: Vec<StepSpec>,
}

impl ProgramSpec {
    /// Check every index and count against this spec (with `n_consts`
    /// constants and `n_funcs` code functions), recursively.
    pub fn validate(&self, n_consts: usize, n_funcs: usize) -> Result<(), String> {
        let nb = self.bufs.len();
        let buf = |b: usize, what: &str| {
            if b < nb {
                Ok(())
            } else {
                Err(format!("{what} refers to buffer {b} of {nb}"))
            }
        };
        for (i, &b) in self.inputs.iter().enumerate() {
            buf(b, &format!("input {i}"))?;
            if self.bufs[b].loc != LocSpec::Input(i) {
                return Err(format!(
                    "input {i}'s buffer {b} is not located at input {i}"
                ));
            }
        }
        for (i, &b) in self.outputs.iter().enumerate() {
            buf(b, &format!("output {i}"))?;
        }
        for (i, b) in self.bufs.iter().enumerate() {
            let ok = match b.loc {
                LocSpec::Input(j) => j < self.inputs.len(),
                LocSpec::Const(j) => j < n_consts,
                LocSpec::Arena(j) => j < self.slots.len(),
                LocSpec::Dynamic => true,
            };
            if !ok {
                return Err(format!(
                    "buffer {i} (`{}`) has location {:?} out of range",
                    b.name, b.loc
                ));
            }
        }
        let func = |i: usize| {
            if i < n_funcs {
                Ok(())
            } else {
                Err(format!("refers to code function {i} of {n_funcs}"))
            }
        };
        for (si, s) in self.steps.iter().enumerate() {
            let at = |e: String| format!("step {si} ({}): {e}", s.label);
            for &b in s.ins.iter().chain(&s.outs) {
                buf(b, "operand").map_err(at)?;
            }
            if s.outs.is_empty() {
                return Err(at("no results".into()));
            }
            match &s.kind {
                KernelSpec::Fallback(_) => {}
                KernelSpec::Op {
                    n_inputs, epilogue, ..
                } => {
                    if *n_inputs > s.ins.len() {
                        return Err(at(format!("{n_inputs} op operands of {}", s.ins.len())));
                    }
                    if let Some((e, extra)) = epilogue {
                        if let Some(x) = extra.iter().find(|&&x| x >= s.ins.len()) {
                            return Err(at(format!("epilogue operand {x} of {}", s.ins.len())));
                        }
                        e.variants.iter().try_for_each(|v| func(v.1)).map_err(at)?;
                    }
                }
                KernelSpec::Elementwise(e) => {
                    e.variants.iter().try_for_each(|v| func(v.1)).map_err(at)?
                }
                KernelSpec::Reduce(r) => {
                    r.variants.iter().try_for_each(|v| func(v.1)).map_err(at)?
                }
                KernelSpec::Body { program, .. } => program
                    .validate(program.consts.len(), n_funcs)
                    .map_err(|e| at(format!("body: {e}")))?,
            }
        }
        Ok(())
    }
}

/// Where generated code comes from when building a program.
#[derive(Clone)]
pub struct CodeSource {
    pub image: Arc<CodeImage>,
    /// Compiles access patterns the image lacks (`None` for artifacts).
    pub gen: Option<Arc<dyn CodeGen>>,
}

/// Build the runnable program for `spec` with constants `consts` (the
/// top level's; nested bodies carry their own).
pub fn build_program(
    spec: &ProgramSpec,
    consts: Vec<Tensor>,
    code: &CodeSource,
) -> Result<Program, String> {
    spec.validate(consts.len(), code.image.len())?;
    let bufs: Vec<BufInfo> = spec.bufs.iter().map(buf_info).collect();
    check_consts(&bufs, &consts)?;
    let mut steps = Vec::with_capacity(spec.steps.len());
    for s in &spec.steps {
        let kind = build_step(s, &bufs, &consts, code).map_err(|e| format!("{}: {e}", s.label))?;
        steps.push(Step {
            kind,
            ins: s.ins.clone(),
            outs: s.outs.clone(),
            label: s.label.clone(),
        });
    }
    Ok(assemble(spec, bufs, consts, steps))
}

fn check_consts(bufs: &[BufInfo], consts: &[Tensor]) -> Result<(), String> {
    for b in bufs {
        if let Loc::Const(i) = b.loc {
            let t = &consts[i];
            let fits = t.dtype() == b.ty.dtype
                && t.shape().len() == b.ty.shape.len()
                && b.ty
                    .shape
                    .iter()
                    .zip(t.shape())
                    .all(|(d, &n)| *d == ingot_ir::Dim::Known(n as i64));
            if !fits {
                return Err(format!(
                    "constant `{}` is {}{:?}, its buffer says {}",
                    b.name,
                    t.dtype(),
                    t.shape(),
                    b.ty
                ));
            }
        }
    }
    Ok(())
}

fn assemble(
    spec: &ProgramSpec,
    bufs: Vec<BufInfo>,
    consts: Vec<Tensor>,
    steps: Vec<Step>,
) -> Program {
    Program {
        name: spec.name.clone(),
        bufs,
        inputs: spec.inputs.clone(),
        outputs: spec.outputs.clone(),
        consts,
        slots: spec
            .slots
            .iter()
            .map(|(offset, bytes)| ArenaSlot {
                offset: offset.clone(),
                bytes: bytes.clone(),
            })
            .collect(),
        steps,
    }
}

fn buf_info(b: &BufSpec) -> BufInfo {
    BufInfo {
        ty: b.ty.clone(),
        loc: match b.loc {
            LocSpec::Input(i) => Loc::Input(i),
            LocSpec::Const(i) => Loc::Const(i),
            LocSpec::Arena(i) => Loc::Arena(i),
            LocSpec::Dynamic => Loc::Dynamic,
        },
        name: b.name.clone(),
    }
}

/// The kernel of one step.
fn build_step(
    s: &StepSpec,
    bufs: &[BufInfo],
    consts: &[Tensor],
    code: &CodeSource,
) -> Result<StepKind, String> {
    Ok(match &s.kind {
        KernelSpec::Fallback(op) => StepKind::Fallback(op.clone()),
        KernelSpec::Elementwise(e) => StepKind::Native(Arc::new(ElementwiseKernel::new(
            e.clone(),
            &code.image,
            code.gen.clone(),
        )?)),
        KernelSpec::Reduce(r) => StepKind::Native(Arc::new(ReduceKernel::new(
            r.clone(),
            &code.image,
            code.gen.clone(),
        )?)),
        KernelSpec::Body { what, program } => {
            let inner = build_program(program, program.consts.clone(), code)
                .map_err(|e| format!("body: {e}"))?;
            StepKind::Native(Arc::new(BodyKernel {
                model: Model::new(inner, 1)?,
                what: what.clone(),
            }))
        }
        KernelSpec::Op {
            op,
            n_inputs,
            n_outputs,
            epilogue,
        } => {
            let ops = &s.ins[..*n_inputs];
            let in_types: Vec<TensorType> = ops.iter().map(|&b| bufs[b].ty.clone()).collect();
            let out_types: Vec<TensorType> = s.outs.iter().map(|&b| bufs[b].ty.clone()).collect();
            let cs: Vec<Option<Tensor>> = ops
                .iter()
                .map(|&b| match bufs[b].loc {
                    Loc::Const(i) => Some(consts[i].clone()),
                    _ => None,
                })
                .collect();
            let epi = match epilogue {
                None => None,
                Some((e, extra)) => {
                    let k: Arc<dyn RangeKernel> = Arc::new(ElementwiseKernel::new(
                        e.clone(),
                        &code.image,
                        code.gen.clone(),
                    )?);
                    Some(Epilogue::new(k, extra.clone()))
                }
            };
            let has_epi = epi.is_some();
            let k = match contraction_kernel(op, &in_types, &cs, *n_outputs, epi) {
                Some(r) => r,
                None if has_epi => return Err(format!("`{}` takes no epilogue", op.name())),
                None => movement_kernel(op, &in_types, &cs, &out_types)
                    .ok_or_else(|| format!("no runtime kernel for `{}`", op.name()))?,
            };
            StepKind::Native(Arc::from(k?))
        }
    })
}

/// Build as [`build_program`], except that a step whose kernel cannot be
/// built becomes its `fallbacks` entry (the interpreter running the
/// original op on the original operands and results), in `spec` too;
/// returns each such step's index and why. For compiling in memory, where an instance a
/// kernel refuses is not an error.
pub fn build_program_lenient(
    spec: &mut ProgramSpec,
    consts: Vec<Tensor>,
    code: &CodeSource,
    fallbacks: &[StepSpec],
) -> Result<(Program, Vec<(usize, String)>), String> {
    if fallbacks.len() != spec.steps.len() {
        return Err(format!(
            "{} fallbacks for {} steps",
            fallbacks.len(),
            spec.steps.len()
        ));
    }
    spec.validate(consts.len(), code.image.len())?;
    let bufs: Vec<BufInfo> = spec.bufs.iter().map(buf_info).collect();
    check_consts(&bufs, &consts)?;
    let mut rejected = vec![];
    let mut steps = Vec::with_capacity(spec.steps.len());
    for (i, s) in spec.steps.iter_mut().enumerate() {
        let kind = match build_step(s, &bufs, &consts, code) {
            Ok(k) => k,
            Err(e) => {
                rejected.push((i, format!("{}: {e}", s.label)));
                *s = fallbacks[i].clone();
                build_step(s, &bufs, &consts, code)
                    .map_err(|e| format!("{}: fallback: {e}", s.label))?
            }
        };
        steps.push(Step {
            kind,
            ins: s.ins.clone(),
            outs: s.outs.clone(),
            label: s.label.clone(),
        });
    }
    spec.validate(consts.len(), code.image.len())?;
    Ok((assemble(spec, bufs, consts, steps), rejected))
}

/// A fused body the JIT does not take, run as its own small program of
/// native kernels on one thread. Operands are copied in and results copied
/// out, which is cheap next to the interpreter this replaces.
pub struct BodyKernel {
    model: Model,
    what: String,
}

impl Kernel for BodyKernel {
    fn describe(&self) -> String {
        self.what.clone()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], _cx: &Ctx) -> Result<(), KernelError> {
        let inputs = ins
            .iter()
            .map(|a| {
                // SAFETY: the executor hands live buffers of their shape.
                let bytes = unsafe { std::slice::from_raw_parts(a.ptr as *const u8, a.bytes()) };
                Tensor::from_bytes(a.dtype, a.shape, bytes).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.model.run(&inputs).map_err(|e| e.to_string())?;
        if results.len() != outs.len() {
            return Err(KernelError(format!(
                "body gave {} results for {} outputs",
                results.len(),
                outs.len()
            )));
        }
        for (o, t) in outs.iter().zip(&results) {
            if t.shape() != o.shape || t.dtype() != o.dtype {
                return Err(format!(
                    "body result {}{:?} does not match the planned {}{:?}",
                    t.dtype(),
                    t.shape(),
                    o.dtype,
                    o.shape
                )
                .into());
            }
            // SAFETY: `o` is a live, exclusive buffer of exactly these bytes.
            unsafe { std::ptr::copy_nonoverlapping(t.bytes().as_ptr(), o.ptr, o.bytes()) };
        }
        Ok(())
    }
}
