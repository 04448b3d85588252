//! The executor: runs a [`Program`] on input tensors.
//!
//! One run: check the inputs against the program's input types (binding the
//! symbolic dims: `batch` = 8), resolve every buffer's concrete shape and
//! arena offset for those bindings (cached per binding, so steady-state runs
//! evaluate no polynomial), take an arena from the pool (or make one), run
//! the steps in order, copy the outputs out, and give the arena back.
//!
//! `Model` is `Send + Sync`: any number of threads may call `run` at once;
//! each run takes its own arena, and kernels only read the shared program.
//! With `threads > 1` a run executes inside the model's persistent rayon
//! pool (kernels split big work across it); with 1 thread it runs on the
//! caller's thread with no hand-off.

use crate::kernel::{Arg, Ctx};
use crate::program::{Loc, Program, StepKind};
use ingot_ir::{interp, Dim, Tensor};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("model `{model}` takes {expected} input(s) but {given} were given")]
    InputCount {
        model: String,
        expected: usize,
        given: usize,
    },
    #[error("input {index} `{name}`: expected {expected}, given {given}")]
    Input {
        index: usize,
        name: String,
        expected: String,
        given: String,
    },
    #[error("cannot size `{name}` of type {ty}: {msg}")]
    Shape {
        name: String,
        ty: String,
        msg: String,
    },
    #[error("{label}: {msg}")]
    Step { label: String, msg: String },
    #[error("cannot allocate a {bytes}-byte arena")]
    Alloc { bytes: usize },
}

/// Concrete sizes for one binding of the symbolic dims.
struct Resolved {
    /// Per buffer; `None` for dynamic buffers (known only once computed).
    shapes: Vec<Option<Vec<usize>>>,
    offsets: Vec<usize>,
    arena_bytes: usize,
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A 64-byte aligned scratch region, reused across runs.
struct Arena(Vec<Line>);

impl Arena {
    fn with_bytes(bytes: usize) -> Result<Arena, RunError> {
        let lines = bytes.div_ceil(64);
        let mut v: Vec<Line> = Vec::new();
        v.try_reserve_exact(lines)
            .map_err(|_| RunError::Alloc { bytes })?;
        v.resize(lines, Line([0; 64]));
        Ok(Arena(v))
    }

    fn bytes(&self) -> usize {
        self.0.len() * 64
    }

    fn base(&mut self) -> *mut u8 {
        self.0.as_mut_ptr() as *mut u8
    }
}

/// Most bindings whose resolution is cached.
const RESOLVED_CACHE: usize = 64;

/// A program ready to run, with its thread pool and arena pool.
pub struct Model {
    program: Program,
    threads: usize,
    pool: Option<rayon::ThreadPool>,
    /// Symbolic dim names bound by the inputs, in a fixed order (cache key).
    syms: Vec<String>,
    resolved: Mutex<HashMap<Vec<i64>, Arc<Resolved>>>,
    arenas: Mutex<Vec<Arena>>,
}

/// Physical cores if the OS says, else logical ones, else 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` on the current pool worker while the pool's other workers spin
/// (running any parallel work the steps hand out) instead of sleeping.
///
/// Why: a run alternates short serial steps with parallel ones; a sleeping
/// rayon worker takes tens of microseconds to wake for each parallel step
/// (measured here: a 100 us region split in two cost 139 us instead of 110
/// once 60 us of serial work separated the regions), which ate the whole
/// gain of a second thread on batch-1 transformers. The spinners only live
/// for one run, so an idle model costs no CPU. A spinner that lands on the
/// thread running `f` (rayon runs queued jobs while waiting) leaves at once.
fn with_spinning_workers<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    let me = rayon::current_thread_index();
    rayon::scope(|s| {
        for _ in 1..threads {
            s.spawn(|_| {
                if rayon::current_thread_index() == me {
                    return;
                }
                while !done.load(Ordering::Acquire) {
                    if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        let r = f();
        done.store(true, Ordering::Release);
        r
    })
}

impl Model {
    /// `threads = 0` means [`default_threads`].
    pub fn new(program: Program, threads: usize) -> Result<Model, String> {
        let threads = if threads == 0 {
            default_threads()
        } else {
            threads
        };
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("ingot-worker-{i}"))
                    .build()
                    .map_err(|e| format!("cannot start {threads} worker threads: {e}"))?,
            )
        } else {
            None
        };
        let mut syms: Vec<String> = vec![];
        for &b in &program.inputs {
            for d in &program.bufs[b].ty.shape {
                for v in d.vars() {
                    if !syms.iter().any(|s| **s == *v) {
                        syms.push(v.to_string());
                    }
                }
            }
        }
        Ok(Model {
            program,
            threads,
            pool,
            syms,
            resolved: Mutex::new(HashMap::new()),
            arenas: Mutex::new(vec![]),
        })
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Bytes of arena (the memory plan's working memory) one run on inputs
    /// of these shapes uses; checks the inputs as `run` does.
    pub fn arena_bytes(&self, inputs: &[Tensor]) -> Result<usize, RunError> {
        Ok(self.resolve(inputs)?.arena_bytes)
    }

    /// Run on `inputs` (in the graph's input order).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        self.run_timed(inputs, None)
    }

    /// Run once, also returning each step's wall time.
    pub fn profile(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Vec<Duration>), RunError> {
        let mut times = Vec::with_capacity(self.program.steps.len());
        let out = self.run_timed(inputs, Some(&mut times))?;
        Ok((out, times))
    }

    /// Run once, also returning a copy of every step's results (step
    /// order of [`Model::program`]), for comparing with the interpreter
    /// step by step (`ingot bisect`).
    pub fn run_traced(
        &self,
        inputs: &[Tensor],
    ) -> Result<(Vec<Tensor>, Vec<Vec<Tensor>>), RunError> {
        let mut steps = Vec::with_capacity(self.program.steps.len());
        let out = self.run_probed(inputs, None, Some(&mut steps))?;
        Ok((out, steps))
    }

    fn run_timed(
        &self,
        inputs: &[Tensor],
        times: Option<&mut Vec<Duration>>,
    ) -> Result<Vec<Tensor>, RunError> {
        self.run_probed(inputs, times, None)
    }

    fn run_probed(
        &self,
        inputs: &[Tensor],
        times: Option<&mut Vec<Duration>>,
        trace: Option<&mut Vec<Vec<Tensor>>>,
    ) -> Result<Vec<Tensor>, RunError> {
        let res = self.resolve(inputs)?;
        let mut arena = self.take_arena(res.arena_bytes)?;
        let out = match &self.pool {
            Some(pool) => pool.install(|| {
                with_spinning_workers(self.threads, || {
                    self.exec(inputs, &res, &mut arena, times, trace)
                })
            }),
            None => self.exec(inputs, &res, &mut arena, times, trace),
        };
        self.arenas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(arena);
        out
    }

    fn take_arena(&self, bytes: usize) -> Result<Arena, RunError> {
        let mut pool = self.arenas.lock().unwrap_or_else(|e| e.into_inner());
        // Prefer the smallest arena that fits; else grow a new one.
        let best = (0..pool.len())
            .filter(|&i| pool[i].bytes() >= bytes)
            .min_by_key(|&i| pool[i].bytes());
        match best {
            Some(i) => Ok(pool.swap_remove(i)),
            None => {
                drop(pool);
                Arena::with_bytes(bytes.max(64))
            }
        }
    }

    /// Check the inputs, bind the dims, and size everything.
    fn resolve(&self, inputs: &[Tensor]) -> Result<Arc<Resolved>, RunError> {
        let p = &self.program;
        if inputs.len() != p.inputs.len() {
            return Err(RunError::InputCount {
                model: p.name.clone(),
                expected: p.inputs.len(),
                given: inputs.len(),
            });
        }
        let mut bindings: HashMap<String, i64> = HashMap::new();
        for (i, (&b, t)) in p.inputs.iter().zip(inputs).enumerate() {
            let info = &p.bufs[b];
            interp::check_type(&info.ty, t, &mut bindings).map_err(|msg| RunError::Input {
                index: i,
                name: info.name.clone(),
                expected: info.ty.to_string(),
                given: format!("{}{:?} ({msg})", t.dtype(), t.shape()),
            })?;
        }
        let key: Vec<i64> = self
            .syms
            .iter()
            .map(|s| bindings.get(s).copied().unwrap_or(i64::MIN))
            .collect();
        let mut cache = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = cache.get(&key) {
            return Ok(r.clone());
        }
        let r = Arc::new(self.resolve_for(&bindings)?);
        if cache.len() >= RESOLVED_CACHE {
            cache.clear();
        }
        cache.insert(key, r.clone());
        Ok(r)
    }

    fn resolve_for(&self, bindings: &HashMap<String, i64>) -> Result<Resolved, RunError> {
        let p = &self.program;
        let env = |name: &str| bindings.get(name).copied();
        let size = |d: &Dim, what: &dyn Fn() -> (String, String)| -> Result<usize, RunError> {
            let err = |msg: String| {
                let (name, ty) = what();
                RunError::Shape { name, ty, msg }
            };
            let v = d
                .eval(&env)
                .ok_or_else(|| err(format!("`{d:?}` is not bound by the inputs")))?;
            usize::try_from(v).map_err(|_| err(format!("`{d:?}` = {v} is negative")))
        };
        let mut shapes = Vec::with_capacity(p.bufs.len());
        for b in &p.bufs {
            if b.loc == Loc::Dynamic {
                shapes.push(None);
                continue;
            }
            let what = || (b.name.clone(), b.ty.to_string());
            let dims =
                b.ty.shape
                    .iter()
                    .map(|d| size(d, &what))
                    .collect::<Result<Vec<_>, _>>()?;
            shapes.push(Some(dims));
        }
        let arena_what = || ("arena".to_string(), String::new());
        let mut offsets = Vec::with_capacity(p.slots.len());
        let mut slot_bytes = Vec::with_capacity(p.slots.len());
        let mut arena_bytes = 0usize;
        for s in &p.slots {
            let off = size(&s.offset, &arena_what)?;
            let bytes = size(&s.bytes, &arena_what)?;
            let end = off
                .checked_add(bytes)
                .ok_or(RunError::Alloc { bytes: usize::MAX })?;
            offsets.push(off);
            slot_bytes.push(bytes);
            arena_bytes = arena_bytes.max(end);
        }
        // A plan whose buffer outgrows its slot would let kernels write past
        // it: refuse (compiled plans never do this; a crafted artifact might).
        for (b, sh) in p.bufs.iter().zip(&shapes) {
            if let (Loc::Arena(i), Some(sh)) = (&b.loc, sh) {
                let need = sh
                    .iter()
                    .try_fold(b.ty.dtype.size(), |a, &d| a.checked_mul(d))
                    .ok_or(RunError::Alloc { bytes: usize::MAX })?;
                if slot_bytes.get(*i).is_none_or(|&have| need > have) {
                    return Err(RunError::Shape {
                        name: b.name.clone(),
                        ty: b.ty.to_string(),
                        msg: format!("needs {need} bytes, more than its arena slot {i} has"),
                    });
                }
            }
        }
        Ok(Resolved {
            shapes,
            offsets,
            arena_bytes,
        })
    }

    fn exec(
        &self,
        inputs: &[Tensor],
        res: &Resolved,
        arena: &mut Arena,
        mut times: Option<&mut Vec<Duration>>,
        mut trace: Option<&mut Vec<Vec<Tensor>>>,
    ) -> Result<Vec<Tensor>, RunError> {
        let p = &self.program;
        let base = arena.base();
        let mut dynamic: HashMap<usize, Tensor> = HashMap::new();
        let cx = Ctx {
            threads: self.threads,
        };
        for step in &p.steps {
            let t0 = times.as_ref().map(|_| Instant::now());
            let fail = |msg: String| RunError::Step {
                label: step.label.clone(),
                msg,
            };
            match &step.kind {
                StepKind::Native(k) => {
                    let arg = |b: usize| self.arg(b, inputs, res, base, &dynamic);
                    let ins: Vec<Arg> =
                        step.ins.iter().map(|&b| arg(b)).collect::<Result<_, _>>()?;
                    let outs: Vec<Arg> = step
                        .outs
                        .iter()
                        .map(|&b| arg(b))
                        .collect::<Result<_, _>>()?;
                    // SAFETY: every Arg points into a live input, constant or
                    // arena region of its resolved shape; the memory plan
                    // keeps simultaneously live arena buffers disjoint.
                    unsafe { k.run(&ins, &outs, &cx) }.map_err(|e| fail(e.0))?;
                }
                StepKind::Fallback(op) => {
                    let owned: Vec<Tensor> = step
                        .ins
                        .iter()
                        .map(|&b| self.tensor(b, inputs, res, base, &dynamic))
                        .collect::<Result<_, _>>()?;
                    let refs: Vec<&Tensor> = owned.iter().collect();
                    let results = interp::eval_op(op, &refs).map_err(fail)?;
                    if results.len() != step.outs.len() {
                        return Err(fail(format!(
                            "produced {} results, expected {}",
                            results.len(),
                            step.outs.len()
                        )));
                    }
                    for (&b, t) in step.outs.iter().zip(results) {
                        self.store(b, t, res, base, &mut dynamic).map_err(fail)?;
                    }
                }
            }
            if let (Some(times), Some(t0)) = (times.as_mut(), t0) {
                times.push(t0.elapsed());
            }
            if let Some(trace) = trace.as_mut() {
                let outs = step
                    .outs
                    .iter()
                    .map(|&b| self.tensor(b, inputs, res, base, &dynamic))
                    .collect::<Result<Vec<_>, _>>()?;
                trace.push(outs);
            }
        }
        p.outputs
            .iter()
            .map(|&b| match dynamic.remove(&b) {
                Some(t) => Ok(t),
                None => self.tensor(b, inputs, res, base, &dynamic),
            })
            .collect()
    }

    fn arg<'r>(
        &'r self,
        b: usize,
        inputs: &'r [Tensor],
        res: &'r Resolved,
        base: *mut u8,
        dynamic: &'r HashMap<usize, Tensor>,
    ) -> Result<Arg<'r>, RunError> {
        let info = &self.program.bufs[b];
        let dtype = info.ty.dtype;
        Ok(match info.loc {
            // Kernels never write their inputs: the cast to *mut is only
            // for the shared Arg type.
            Loc::Input(i) => Arg {
                ptr: inputs[i].bytes().as_ptr() as *mut u8,
                dtype,
                shape: inputs[i].shape(),
            },
            Loc::Const(i) => {
                let t = &self.program.consts[i];
                Arg {
                    ptr: t.bytes().as_ptr() as *mut u8,
                    dtype,
                    shape: t.shape(),
                }
            }
            Loc::Arena(s) => Arg {
                // SAFETY: offsets lie inside the arena (the plan's arena size
                // covers every slot's offset + size).
                ptr: unsafe { base.add(res.offsets[s]) },
                dtype,
                shape: res.shapes[b].as_deref().expect("arena buffers are sized"),
            },
            Loc::Dynamic => {
                let t = dynamic.get(&b).ok_or_else(|| RunError::Step {
                    label: info.name.clone(),
                    msg: "dynamic value used before it was computed (internal error)".into(),
                })?;
                Arg {
                    ptr: t.bytes().as_ptr() as *mut u8,
                    dtype,
                    shape: t.shape(),
                }
            }
        })
    }

    /// A buffer's contents as a tensor (shared for inputs/consts, copied
    /// out of the arena).
    fn tensor(
        &self,
        b: usize,
        inputs: &[Tensor],
        res: &Resolved,
        base: *mut u8,
        dynamic: &HashMap<usize, Tensor>,
    ) -> Result<Tensor, RunError> {
        let info = &self.program.bufs[b];
        match info.loc {
            Loc::Input(i) => Ok(inputs[i].clone()),
            Loc::Const(i) => Ok(self.program.consts[i].clone()),
            Loc::Dynamic => self
                .arg(b, inputs, res, base, dynamic)
                .map(|_| dynamic[&b].clone()),
            Loc::Arena(s) => {
                let shape = res.shapes[b].as_deref().expect("arena buffers are sized");
                let n = shape.iter().product::<usize>() * info.ty.dtype.size();
                // SAFETY: the slot holds `n` initialized bytes written by
                // the step that defined it.
                let bytes = unsafe { std::slice::from_raw_parts(base.add(res.offsets[s]), n) };
                Tensor::from_bytes(info.ty.dtype, shape, bytes).map_err(|e| RunError::Step {
                    label: info.name.clone(),
                    msg: e.to_string(),
                })
            }
        }
    }

    fn store(
        &self,
        b: usize,
        t: Tensor,
        res: &Resolved,
        base: *mut u8,
        dynamic: &mut HashMap<usize, Tensor>,
    ) -> Result<(), String> {
        let info = &self.program.bufs[b];
        if t.dtype() != info.ty.dtype {
            return Err(format!(
                "result `{}` is {} but {} was planned",
                info.name,
                t.dtype(),
                info.ty
            ));
        }
        match info.loc {
            Loc::Arena(s) => {
                let shape = res.shapes[b].as_deref().expect("arena buffers are sized");
                if t.shape() != shape {
                    return Err(format!(
                        "result `{}` has shape {:?} but {:?} ({}) was planned",
                        info.name,
                        t.shape(),
                        shape,
                        info.ty
                    ));
                }
                let src = t.bytes();
                // SAFETY: the slot is `src.len()` bytes (same dtype and
                // shape) inside the arena and no live buffer overlaps it.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(res.offsets[s]), src.len())
                };
                Ok(())
            }
            Loc::Dynamic => {
                dynamic.insert(b, t);
                Ok(())
            }
            Loc::Input(_) | Loc::Const(_) => Err(format!(
                "result `{}` is planned as an input or constant (internal error)",
                info.name
            )),
        }
    }
}
