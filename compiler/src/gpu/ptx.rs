//! PTX kernels for fused elementwise bodies.
//!
//! A body (`fused {kind="elementwise"}` or `jit::single_op_body`) is lowered
//! by the CPU JIT's front half (`cpu::jit::prog`) to a typed straight-line
//! [`Prog`]; this file turns that program into one PTX `.entry`.
//!
//! # Kernel contract
//!
//! ```text
//! .visible .entry NAME(
//!     .param .u64 NAME_out0, ...        // one global pointer per output
//!     .param .u64 NAME_in0,  ...        // one global pointer per input (unused ones ignored)
//!       [.param .u64 NAME_div{k}, .param .u64 NAME_mod{k}]   // only for Layout::Bcast inputs
//!     .param .u64 NAME_n)               // number of output elements
//! ```
//! [`PtxKernel::params`] lists the parameters in order. Every output is
//! contiguous with `n` elements. Element `i` of the outputs reads, per input
//! `k`, according to the input's compile-time [`Layout`]:
//! - `Contig`: element `i` (the input has the output's shape);
//! - `Splat`: element 0 (one element; loaded once per thread);
//! - `Bcast`: element `(i / div_k) % mod_k` (64-bit `div.u64`/`rem.u64`):
//!   covers every numpy broadcast whose non-unit input axes form one run of
//!   the output's non-unit axes (bias `[C]` over `[N,C]`, `[N,1]` over
//!   `[N,C]`, `[1,C,1,1]` over `[N,C,H,W]`). [`InputIndex::of`] computes
//!   `div`/`mod` from the shapes and says when a broadcast is not of that
//!   form (e.g. `[N,1,W]` over `[N,H,W]`): the caller must then materialize
//!   the input first.
//!
//! The loop is a grid-stride loop over `n` with 64-bit indices, so any
//! 1-D launch covers the whole output. Bools are one byte (0/1) in memory
//! and predicates in registers; i32/i64 are two's complement.
//!
//! The vector variant (`vector = true`) needs every input `Contig` or
//! `Splat`, `n % 4 == 0`, and every pointer 16-byte aligned; it processes 4
//! elements per iteration with `ld.global.v4`/`st.global.v4` (`v4.u8` for
//! bools, two `v2.b64` for i64). The caller checks the conditions at launch
//! time and uses the scalar variant otherwise.
//!
//! # Arithmetic
//!
//! `add sub mul div sqrt rcp` use the IEEE `.rn` forms, so they are bit-exact
//! with the interpreter, and `mul`+`add` is never contracted into `fma`
//! (explicit `.rn` forbids it). No `.ftz`, no `.approx`: subnormals are
//! kept. Floor/ceil/round are `cvt.rmi/rpi/rni`. Transcendentals are ports
//! of `cpu/jit/math.rs` (same polynomials and range reductions, always with
//! `fma`): see `ptx_math.rs` for the error bounds. What the lowering or this
//! emitter cannot compute exactly as documented is [`GpuError::Unsupported`].

use super::GpuError;
use crate::cpu::jit::prog::{lower_elementwise, Bin, Prog, Reg, Ty, Un, E};
use ingot_ir::Graph;
use std::fmt::Write;

/// A compute capability the text targets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arch {
    Sm80,
    Sm90,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Sm80 => "sm_80",
            Arch::Sm90 => "sm_90",
        }
    }
}

/// How a kernel indexes one input (fixed when the kernel is generated).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    Contig,
    Splat,
    Bcast,
}

/// How one input maps onto the output index space, with the run-time
/// parameters for [`Layout::Bcast`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InputIndex {
    Contig,
    Splat,
    /// Input element `(i / div) % modulo`.
    Bcast {
        div: u64,
        modulo: u64,
    },
}

impl InputIndex {
    /// The indexing of an input of shape `input` broadcast (numpy rules) to
    /// `output`; `None` if it does not broadcast or its non-unit axes are not
    /// one run of the output's non-unit axes.
    pub fn of(input: &[usize], output: &[usize]) -> Option<InputIndex> {
        if input.len() > output.len() {
            return None;
        }
        let pad = output.len() - input.len();
        let dim = |a: usize| if a < pad { 1 } else { input[a - pad] };
        if (0..output.len()).any(|a| dim(a) != 1 && dim(a) != output[a]) {
            return None;
        }
        let numel_in: usize = input.iter().product();
        let numel_out: usize = output.iter().product();
        if numel_in == numel_out {
            return Some(InputIndex::Contig);
        }
        if numel_in == 1 {
            return Some(InputIndex::Splat);
        }
        // Output axes that matter (extent > 1): kept ones must form one run.
        let axes: Vec<usize> = (0..output.len()).filter(|&a| output[a] > 1).collect();
        let kept: Vec<bool> = axes.iter().map(|&a| dim(a) == output[a]).collect();
        let first = kept.iter().position(|&k| k)?;
        let last = kept.iter().rposition(|&k| k)?;
        if kept[first..=last].iter().any(|&k| !k) {
            return None;
        }
        let div: usize = axes[last + 1..].iter().map(|&a| output[a]).product();
        Some(InputIndex::Bcast {
            div: div as u64,
            modulo: numel_in as u64,
        })
    }

    pub fn layout(self) -> Layout {
        match self {
            InputIndex::Contig => Layout::Contig,
            InputIndex::Splat => Layout::Splat,
            InputIndex::Bcast { .. } => Layout::Bcast,
        }
    }
}

/// One kernel parameter (all are `.u64`), in [`PtxKernel::params`] order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Out(usize),
    In(usize),
    Div(usize),
    Mod(usize),
    N,
}

/// A generated kernel: a complete PTX module with one `.entry`.
#[derive(Clone, Debug)]
pub struct PtxKernel {
    pub name: String,
    pub text: String,
    pub params: Vec<Param>,
    pub vector: bool,
}

fn unsupported(op: impl Into<String>, why: impl Into<String>) -> GpuError {
    GpuError::Unsupported {
        op: op.into(),
        why: why.into(),
    }
}

/// Generate the PTX kernel `name` for an elementwise `body` with per-input
/// `layouts` (one per body input), scalar or 4-wide.
pub fn elementwise(
    body: &Graph,
    name: &str,
    layouts: &[Layout],
    arch: Arch,
    vector: bool,
) -> Result<PtxKernel, GpuError> {
    let prog = lower_elementwise(body)?;
    generate(&prog, name, layouts, arch, vector)
}

/// A register class, with its PTX prefix and declaration type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Pred,
    B16,
    F32,
    B32,
    B64,
}

const CLASSES: [(Class, &str, &str); 5] = [
    (Class::Pred, "%p", ".pred"),
    (Class::B16, "%rs", ".b16"),
    (Class::F32, "%f", ".f32"),
    (Class::B32, "%r", ".b32"),
    (Class::B64, "%rd", ".b64"),
];

/// An f32 immediate in PTX's exact hex form.
pub(crate) fn imm(c: f32) -> String {
    format!("0f{:08X}", c.to_bits())
}

/// PTX text being written: instructions plus virtual register counters.
#[derive(Default)]
pub(crate) struct Asm {
    pub text: String,
    counts: [usize; 5],
}

impl Asm {
    pub(crate) fn reg(&mut self, c: Class) -> String {
        let i = CLASSES.iter().position(|(k, ..)| *k == c).unwrap_or(0);
        self.counts[i] += 1;
        format!("{}{}", CLASSES[i].1, self.counts[i])
    }

    /// One instruction (without the `;`).
    pub(crate) fn ins(&mut self, s: impl AsRef<str>) {
        let _ = writeln!(self.text, "\t{};", s.as_ref());
    }

    fn label(&mut self, l: &str) {
        let _ = writeln!(self.text, "{l}:");
    }

    /// `op.TYPE d, args…` into a fresh register of class `c`.
    pub(crate) fn op(&mut self, c: Class, op: &str, args: &[&str]) -> String {
        let d = self.reg(c);
        self.ins(format!("{op} {d}, {}", args.join(", ")));
        d
    }

    fn decls(&self) -> String {
        let mut s = String::new();
        for (i, (_, p, t)) in CLASSES.iter().enumerate() {
            if self.counts[i] > 0 {
                let _ = writeln!(s, "\t.reg {t} {p}<{}>;", self.counts[i] + 1);
            }
        }
        s
    }
}

fn generate(
    prog: &Prog,
    name: &str,
    layouts: &[Layout],
    arch: Arch,
    vector: bool,
) -> Result<PtxKernel, GpuError> {
    if layouts.len() != prog.inputs.len() {
        return Err(GpuError::Codegen(format!(
            "{} layouts for {} inputs",
            layouts.len(),
            prog.inputs.len()
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(GpuError::Codegen(format!("bad kernel name `{name}`")));
    }
    let used: Vec<(usize, Ty)> = (0..prog.inputs.len())
        .filter_map(|k| prog.inputs[k].map(|t| (k, t)))
        .collect();
    if vector && used.iter().any(|&(k, _)| layouts[k] == Layout::Bcast) {
        return Err(unsupported(
            "kernel",
            "the vector variant needs contiguous or splat inputs",
        ));
    }
    let mut params: Vec<Param> = (0..prog.outputs.len()).map(Param::Out).collect();
    for (k, l) in layouts.iter().enumerate() {
        params.push(Param::In(k));
        if *l == Layout::Bcast {
            params.extend([Param::Div(k), Param::Mod(k)]);
        }
    }
    params.push(Param::N);
    let pname = |p: &Param| match p {
        Param::Out(j) => format!("{name}_out{j}"),
        Param::In(k) => format!("{name}_in{k}"),
        Param::Div(k) => format!("{name}_div{k}"),
        Param::Mod(k) => format!("{name}_mod{k}"),
        Param::N => format!("{name}_n"),
    };

    let mut a = Asm::default();
    let lanes = if vector { 4 } else { 1 };
    // Global base pointers and broadcast parameters.
    let base = |a: &mut Asm, p: &Param| {
        let r = a.op(Class::B64, "ld.param.u64", &[&format!("[{}]", pname(p))]);
        a.op(Class::B64, "cvta.to.global.u64", &[&r])
    };
    let outs: Vec<String> = (0..prog.outputs.len())
        .map(|j| base(&mut a, &Param::Out(j)))
        .collect();
    // Per used input: its base pointer and, for `Bcast`, its (div, mod).
    let mut ins: Vec<(String, Option<(String, String)>)> = vec![Default::default(); layouts.len()];
    for &(k, _) in &used {
        let b = base(&mut a, &Param::In(k));
        let dm = (layouts[k] == Layout::Bcast).then(|| {
            let d = a.op(
                Class::B64,
                "ld.param.u64",
                &[&format!("[{}]", pname(&Param::Div(k)))],
            );
            let m = a.op(
                Class::B64,
                "ld.param.u64",
                &[&format!("[{}]", pname(&Param::Mod(k)))],
            );
            (d, m)
        });
        ins[k] = (b, dm);
    }
    let n = a.op(
        Class::B64,
        "ld.param.u64",
        &[&format!("[{}]", pname(&Param::N))],
    );
    let n = if vector {
        a.op(Class::B64, "shr.u64", &[&n, "2"])
    } else {
        n
    };
    let (cta, ntid, tid, ncta) = (
        a.op(Class::B32, "mov.u32", &["%ctaid.x"]),
        a.op(Class::B32, "mov.u32", &["%ntid.x"]),
        a.op(Class::B32, "mov.u32", &["%tid.x"]),
        a.op(Class::B32, "mov.u32", &["%nctaid.x"]),
    );
    let i = a.op(Class::B64, "mul.wide.u32", &[&cta, &ntid]);
    let t = a.op(Class::B64, "cvt.u64.u32", &[&tid]);
    a.ins(format!("add.s64 {i}, {i}, {t}"));
    let stride = a.op(Class::B64, "mul.wide.u32", &[&ncta, &ntid]);
    let p = a.op(Class::Pred, "setp.ge.u64", &[&i, &n]);
    a.ins(format!("@{p} bra DONE"));

    // Splat inputs: loaded once, the same value in every lane.
    let mut loaded: Vec<Vec<String>> = vec![vec![]; layouts.len()];
    for &(k, t) in &used {
        if layouts[k] == Layout::Splat {
            let b = ins[k].0.clone();
            let v = load(&mut a, t, &b);
            loaded[k] = vec![v; lanes];
        }
    }
    a.label("LOOP");
    for &(k, t) in &used {
        let (b, dm) = ins[k].clone();
        match layouts[k] {
            Layout::Splat => {}
            Layout::Contig if vector => loaded[k] = load4(&mut a, t, &b, &i),
            Layout::Contig => {
                let ad = addr(&mut a, &b, &i, t.size());
                loaded[k] = vec![load(&mut a, t, &ad)];
            }
            Layout::Bcast => {
                let (d, m) = dm.unwrap_or_default();
                let q = a.op(Class::B64, "div.u64", &[&i, &d]);
                let r = a.op(Class::B64, "rem.u64", &[&q, &m]);
                let ad = addr(&mut a, &b, &r, t.size());
                loaded[k] = vec![load(&mut a, t, &ad)];
            }
        }
    }
    let mut results: Vec<Vec<String>> = vec![];
    // Per lane, the loaded value of each input (empty for unused inputs).
    let per_lane: Vec<Vec<String>> = (0..lanes)
        .map(|l| {
            loaded
                .iter()
                .map(|v| v.get(l).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    for lane_loads in &per_lane {
        let mut vals: Vec<String> = Vec::with_capacity(prog.nodes.len());
        for (e, t) in &prog.nodes {
            let v = match e {
                E::Load(k) => lane_loads[*k].clone(),
                _ => eval(&mut a, prog, e, *t, &vals)?,
            };
            vals.push(v);
        }
        results.push(prog.outputs.iter().map(|&r| vals[r].clone()).collect());
    }
    for (j, &r) in prog.outputs.iter().enumerate() {
        let t = prog.ty(r);
        let lane_vals: Vec<String> = results.iter().map(|o| o[j].clone()).collect();
        if vector {
            store4(&mut a, t, &outs[j], &i, &lane_vals);
        } else {
            let ad = addr(&mut a, &outs[j], &i, t.size());
            store(&mut a, t, &ad, &lane_vals[0]);
        }
    }
    a.ins(format!("add.s64 {i}, {i}, {stride}"));
    let p = a.op(Class::Pred, "setp.lt.u64", &[&i, &n]);
    a.ins(format!("@{p} bra LOOP"));
    a.label("DONE");
    a.ins("ret");

    let mut text = String::new();
    let _ = writeln!(
        text,
        "// Generated by ingot (gpu::ptx): fused elementwise body, {} instructions, {}.",
        prog.nodes.len(),
        if vector { "4-wide" } else { "scalar" }
    );
    let _ = writeln!(
        text,
        ".version 8.0\n.target {}\n.address_size 64\n",
        arch.name()
    );
    let _ = writeln!(text, ".visible .entry {name}(");
    let plist: Vec<String> = params
        .iter()
        .map(|p| format!("\t.param .u64 {}", pname(p)))
        .collect();
    let _ = writeln!(text, "{}\n)\n{{", plist.join(",\n"));
    text.push_str(&a.decls());
    text.push('\n');
    text.push_str(&a.text);
    text.push_str("}\n");
    Ok(PtxKernel {
        name: name.to_string(),
        text,
        params,
        vector,
    })
}

/// `base + idx * size`.
fn addr(a: &mut Asm, base: &str, idx: &str, size: usize) -> String {
    let off = match size {
        1 => idx.to_string(),
        _ => a.op(
            Class::B64,
            "shl.b64",
            &[idx, &size.trailing_zeros().to_string()],
        ),
    };
    a.op(Class::B64, "add.s64", &[base, &off])
}

fn load(a: &mut Asm, t: Ty, ad: &str) -> String {
    let m = format!("[{ad}]");
    match t {
        Ty::F32 => a.op(Class::F32, "ld.global.f32", &[&m]),
        Ty::I32 => a.op(Class::B32, "ld.global.b32", &[&m]),
        Ty::I64 => a.op(Class::B64, "ld.global.b64", &[&m]),
        Ty::Bool => {
            let b = a.op(Class::B16, "ld.global.u8", &[&m]);
            a.op(Class::Pred, "setp.ne.u16", &[&b, "0"])
        }
    }
}

fn store(a: &mut Asm, t: Ty, ad: &str, v: &str) {
    match t {
        Ty::F32 => a.ins(format!("st.global.f32 [{ad}], {v}")),
        Ty::I32 => a.ins(format!("st.global.b32 [{ad}], {v}")),
        Ty::I64 => a.ins(format!("st.global.b64 [{ad}], {v}")),
        Ty::Bool => {
            let b = a.op(Class::B16, "selp.u16", &["1", "0", v]);
            a.ins(format!("st.global.u8 [{ad}], {b}"));
        }
    }
}

/// Lanes `4g..4g+4` of a contiguous input (`g` = group index).
fn load4(a: &mut Asm, t: Ty, base: &str, g: &str) -> Vec<String> {
    let ad = addr(a, base, g, 4 * t.size());
    let regs = |a: &mut Asm, c: Class, k: usize| (0..k).map(|_| a.reg(c)).collect::<Vec<_>>();
    match t {
        Ty::F32 | Ty::I32 => {
            let (c, ty) = if t == Ty::F32 {
                (Class::F32, "f32")
            } else {
                (Class::B32, "b32")
            };
            let r = regs(a, c, 4);
            a.ins(format!("ld.global.v4.{ty} {{{}}}, [{ad}]", r.join(", ")));
            r
        }
        Ty::I64 => {
            let r = regs(a, Class::B64, 4);
            a.ins(format!("ld.global.v2.b64 {{{}, {}}}, [{ad}]", r[0], r[1]));
            a.ins(format!(
                "ld.global.v2.b64 {{{}, {}}}, [{ad}+16]",
                r[2], r[3]
            ));
            r
        }
        Ty::Bool => {
            let r = regs(a, Class::B16, 4);
            a.ins(format!("ld.global.v4.u8 {{{}}}, [{ad}]", r.join(", ")));
            r.iter()
                .map(|b| a.op(Class::Pred, "setp.ne.u16", &[b, "0"]))
                .collect()
        }
    }
}

fn store4(a: &mut Asm, t: Ty, base: &str, g: &str, v: &[String]) {
    let ad = addr(a, base, g, 4 * t.size());
    match t {
        Ty::F32 => a.ins(format!("st.global.v4.f32 [{ad}], {{{}}}", v.join(", "))),
        Ty::I32 => a.ins(format!("st.global.v4.b32 [{ad}], {{{}}}", v.join(", "))),
        Ty::I64 => {
            a.ins(format!("st.global.v2.b64 [{ad}], {{{}, {}}}", v[0], v[1]));
            a.ins(format!(
                "st.global.v2.b64 [{ad}+16], {{{}, {}}}",
                v[2], v[3]
            ));
        }
        Ty::Bool => {
            let b: Vec<String> = v
                .iter()
                .map(|p| a.op(Class::B16, "selp.u16", &["1", "0", p]))
                .collect();
            a.ins(format!("st.global.v4.u8 [{ad}], {{{}}}", b.join(", ")));
        }
    }
}

/// Evaluate one (non-load) instruction of result type `t`.
fn eval(a: &mut Asm, p: &Prog, e: &E, t: Ty, vals: &[String]) -> Result<String, GpuError> {
    let v = |r: Reg| -> Result<&str, GpuError> {
        vals.get(r)
            .map(|s| s.as_str())
            .ok_or_else(|| GpuError::Codegen(format!("r{r} used before it is defined")))
    };
    Ok(match *e {
        E::ConstF(c) => a.op(Class::F32, "mov.f32", &[&imm(c)]),
        E::ConstB(c) => a.op(
            Class::Pred,
            "setp.ne.u32",
            &[if c { "1" } else { "0" }, "0"],
        ),
        E::ConstI(c) => match t {
            Ty::I32 => a.op(Class::B32, "mov.b32", &[&(c as i32).to_string()]),
            _ => a.op(Class::B64, "mov.b64", &[&c.to_string()]),
        },
        E::Un(u, x) => unary(a, u, p.ty(x), v(x)?)?,
        E::Bin(o, x, y) => binary(a, o, p.ty(x), v(x)?, v(y)?)?,
        E::Select(c, x, y) => {
            let (c, x, y) = (v(c)?, v(x)?, v(y)?);
            match t {
                Ty::F32 => a.op(Class::F32, "selp.f32", &[x, y, c]),
                Ty::I32 => a.op(Class::B32, "selp.b32", &[x, y, c]),
                Ty::I64 => a.op(Class::B64, "selp.b64", &[x, y, c]),
                Ty::Bool => {
                    let l = a.op(Class::Pred, "and.pred", &[c, x]);
                    let nc = a.op(Class::Pred, "not.pred", &[c]);
                    let r = a.op(Class::Pred, "and.pred", &[&nc, y]);
                    a.op(Class::Pred, "or.pred", &[&l, &r])
                }
            }
        }
        E::Cast(x) => cast(a, p.ty(x), t, v(x)?),
        E::Load(_) | E::Reduce(..) | E::RowLen => {
            return Err(unsupported(
                "kernel",
                format!("{e:?} in an elementwise body"),
            ))
        }
    })
}

fn unary(a: &mut Asm, u: Un, xt: Ty, x: &str) -> Result<String, GpuError> {
    use Class::*;
    if xt != Ty::F32 {
        return match (u, xt) {
            (Un::Not, Ty::Bool) => Ok(a.op(Pred, "not.pred", &[x])),
            _ => Err(unsupported(format!("{u:?}"), format!("on {xt:?}"))),
        };
    }
    let zero = imm(0.0);
    Ok(match u {
        Un::Neg => a.op(F32, "neg.f32", &[x]),
        Un::Abs => a.op(F32, "abs.f32", &[x]),
        Un::Sqrt => a.op(F32, "sqrt.rn.f32", &[x]),
        Un::Recip => a.op(F32, "rcp.rn.f32", &[x]),
        Un::Floor => a.op(F32, "cvt.rmi.f32.f32", &[x]),
        Un::Ceil => a.op(F32, "cvt.rpi.f32.f32", &[x]),
        Un::Round => a.op(F32, "cvt.rni.f32.f32", &[x]),
        Un::Sign => {
            let gt = a.op(Pred, "setp.gt.f32", &[x, &zero]);
            let lt = a.op(Pred, "setp.lt.f32", &[x, &zero]);
            let r = a.op(F32, "selp.f32", &[&imm(-1.0), x, &lt]);
            a.op(F32, "selp.f32", &[&imm(1.0), &r, &gt])
        }
        // `x < 0 ? 0 : x` keeps NaN and -0 (the interpreter's relu).
        Un::Relu => {
            let lt = a.op(Pred, "setp.lt.f32", &[x, &zero]);
            a.op(F32, "selp.f32", &[&zero, x, &lt])
        }
        Un::LeakyRelu(al) => {
            let ax = a.op(F32, "mul.rn.f32", &[&imm(al), x]);
            let lt = a.op(Pred, "setp.lt.f32", &[x, &zero]);
            a.op(F32, "selp.f32", &[&ax, x, &lt])
        }
        Un::ThresholdedRelu(al) => {
            let le = a.op(Pred, "setp.le.f32", &[x, &imm(al)]);
            a.op(F32, "selp.f32", &[&zero, x, &le])
        }
        Un::HardSigmoid(al, b) => a.hard_sigmoid(x, al, b),
        Un::HardSwish => {
            let h = a.hard_sigmoid(x, 1.0 / 6.0, 0.5);
            a.op(F32, "mul.rn.f32", &[x, &h])
        }
        Un::Softsign => {
            let ab = a.op(F32, "abs.f32", &[x]);
            let d = a.op(F32, "add.rn.f32", &[&imm(1.0), &ab]);
            a.op(F32, "div.rn.f32", &[x, &d])
        }
        Un::IsNaN => a.op(Pred, "setp.nan.f32", &[x, x]),
        Un::IsInf(neg, pos) => {
            let p = a.op(Pred, "setp.eq.f32", &[x, &imm(f32::INFINITY)]);
            let n = a.op(Pred, "setp.eq.f32", &[x, &imm(f32::NEG_INFINITY)]);
            match (neg, pos) {
                (true, true) => a.op(Pred, "or.pred", &[&p, &n]),
                (false, true) => p,
                (true, false) => n,
                (false, false) => a.op(Pred, "xor.pred", &[&p, &p]),
            }
        }
        Un::Not => return Err(unsupported("not", "on f32")),
        Un::Exp => a.exp(x),
        Un::Log => a.log(x),
        Un::Tanh => a.tanh(x),
        Un::Sigmoid => a.sigmoid(x),
        Un::Erf => a.erf(x),
        Un::Softplus => a.softplus(x),
        Un::Mish => {
            let s = a.softplus(x);
            let t = a.tanh(&s);
            a.op(F32, "mul.rn.f32", &[x, &t])
        }
        Un::Gelu => a.gelu(x),
        Un::GeluTanh => a.gelu_tanh(x),
        Un::Elu(al) => {
            let e = a.exp(x);
            let em1 = a.op(F32, "sub.rn.f32", &[&e, &imm(1.0)]);
            let neg = a.op(F32, "mul.rn.f32", &[&imm(al), &em1]);
            let lt = a.op(Pred, "setp.lt.f32", &[x, &zero]);
            a.op(F32, "selp.f32", &[&neg, x, &lt])
        }
        Un::Selu(al, g) => {
            let e = a.exp(x);
            let ae = a.op(F32, "mul.rn.f32", &[&imm(al), &e]);
            let d = a.op(F32, "sub.rn.f32", &[&ae, &imm(al)]);
            let neg = a.op(F32, "mul.rn.f32", &[&imm(g), &d]);
            let pos = a.op(F32, "mul.rn.f32", &[&imm(g), x]);
            let le = a.op(Pred, "setp.le.f32", &[x, &zero]);
            a.op(F32, "selp.f32", &[&neg, &pos, &le])
        }
        Un::PowC(c) => a.pow_const(x, c),
    })
}

fn binary(a: &mut Asm, o: Bin, xt: Ty, x: &str, y: &str) -> Result<String, GpuError> {
    use Class::*;
    let cmp = match o {
        Bin::Eq => Some("eq"),
        Bin::Lt => Some("lt"),
        Bin::Le => Some("le"),
        Bin::Gt => Some("gt"),
        Bin::Ge => Some("ge"),
        _ => None,
    };
    let bad = || unsupported(format!("{o:?}"), format!("on {xt:?}"));
    Ok(match xt {
        Ty::Bool => match o {
            Bin::And => a.op(Pred, "and.pred", &[x, y]),
            Bin::Or => a.op(Pred, "or.pred", &[x, y]),
            Bin::Xor => a.op(Pred, "xor.pred", &[x, y]),
            _ => return Err(bad()),
        },
        Ty::I32 | Ty::I64 => {
            let (c, s) = if xt == Ty::I32 {
                (B32, "s32")
            } else {
                (B64, "s64")
            };
            if let Some(cc) = cmp {
                return Ok(a.op(Pred, &format!("setp.{cc}.{s}"), &[x, y]));
            }
            let op = match o {
                Bin::Add => "add",
                Bin::Sub => "sub",
                Bin::Mul => "mul.lo",
                Bin::Max => "max",
                Bin::Min => "min",
                _ => return Err(bad()),
            };
            a.op(c, &format!("{op}.{s}"), &[x, y])
        }
        Ty::F32 => {
            if let Some(cc) = cmp {
                return Ok(a.op(Pred, &format!("setp.{cc}.f32"), &[x, y]));
            }
            match o {
                Bin::Add => a.op(F32, "add.rn.f32", &[x, y]),
                Bin::Sub => a.op(F32, "sub.rn.f32", &[x, y]),
                Bin::Mul => a.op(F32, "mul.rn.f32", &[x, y]),
                Bin::Div => a.op(F32, "div.rn.f32", &[x, y]),
                // ONNX Max/Min: NaN if either is; the first operand on ties.
                Bin::Max | Bin::Min => {
                    let cc = if o == Bin::Max { "gt" } else { "lt" };
                    let better = a.op(Pred, &format!("setp.{cc}.f32"), &[y, x]);
                    let r = a.op(F32, "selp.f32", &[y, x, &better]);
                    let nan = a.op(Pred, "setp.nan.f32", &[x, y]);
                    let s = a.op(F32, "add.rn.f32", &[x, y]);
                    a.op(F32, "selp.f32", &[&s, &r, &nan])
                }
                Bin::ClampLo => {
                    let lt = a.op(Pred, "setp.lt.f32", &[x, y]);
                    a.op(F32, "selp.f32", &[y, x, &lt])
                }
                Bin::ClampHi => {
                    let gt = a.op(Pred, "setp.gt.f32", &[x, y]);
                    a.op(F32, "selp.f32", &[y, x, &gt])
                }
                Bin::PRelu => {
                    let sx = a.op(F32, "mul.rn.f32", &[y, x]);
                    let lt = a.op(Pred, "setp.lt.f32", &[x, &imm(0.0)]);
                    a.op(F32, "selp.f32", &[&sx, x, &lt])
                }
                Bin::Pow => a.pow(x, y),
                _ => return Err(bad()),
            }
        }
    })
}

/// Cast's conversions: float → int truncates and saturates (NaN → 0, which
/// is what PTX's `cvt.rzi` does), int → int wraps, → bool is "nonzero" (NaN
/// true), bool → 0/1, int → float rounds to nearest.
fn cast(a: &mut Asm, from: Ty, to: Ty, x: &str) -> String {
    use Class::*;
    match (from, to) {
        (f, t) if f == t => x.to_string(),
        (Ty::F32, Ty::Bool) => a.op(Pred, "setp.neu.f32", &[x, &imm(0.0)]),
        (Ty::I32, Ty::Bool) => a.op(Pred, "setp.ne.s32", &[x, "0"]),
        (Ty::I64, Ty::Bool) => a.op(Pred, "setp.ne.s64", &[x, "0"]),
        (Ty::Bool, Ty::F32) => a.op(F32, "selp.f32", &[&imm(1.0), &imm(0.0), x]),
        (Ty::Bool, Ty::I32) => a.op(B32, "selp.b32", &["1", "0", x]),
        (Ty::Bool, _) => a.op(B64, "selp.b64", &["1", "0", x]),
        (Ty::F32, Ty::I32) => a.op(B32, "cvt.rzi.s32.f32", &[x]),
        (Ty::F32, _) => a.op(B64, "cvt.rzi.s64.f32", &[x]),
        (Ty::I32, Ty::F32) => a.op(F32, "cvt.rn.f32.s32", &[x]),
        (_, Ty::F32) => a.op(F32, "cvt.rn.f32.s64", &[x]),
        (Ty::I64, _) => a.op(B32, "cvt.u32.u64", &[x]),
        (Ty::I32, _) => a.op(B64, "cvt.s64.s32", &[x]),
    }
}
