//! Code generation for row-reduction kernels: per row, one pass over the
//! row per reduction level, then a pass writing the full-row outputs.
//!
//! The function is `fn(rows, len, ptrs, row_strides)` as in `ew_gen.rs`:
//! operand `k` (inputs, then outputs) starts at `ptrs[k]` and advances
//! `row_strides[k]` bytes per row. Per the [`Pattern`] (baked in), an input
//! is *contiguous* within the row (element `i` at `ptrs[k] + i·size`) or
//! *per-row* (one element, loaded once per row); an output is *full* (a
//! contiguous row) or *per-row* (one element).
//!
//! Each register is classified as varying (depends on a contiguous input
//! element) or per-row, and by its stage (how many reduction levels it
//! depends on). Pass `p` accumulates every reduction of stage `p` at once:
//! f32x4 accumulators (×4 unrolled, ×2 for heavy bodies), a single-vector
//! loop, a scalar tail with a scalar accumulator, then a horizontal
//! combine. Per-row values of stage `p` are computed once, in scalar code,
//! between passes. Varying values are recomputed in every pass that needs
//! them (rows are short enough to stay in L1, so re-reading is cheap).
//!
//! Guarantees: no access leaves `[0, len)` of a row. All passes read before
//! the final pass writes, and within it each element is read before it is
//! written, so a full output may alias a contiguous input exactly. Sums are
//! reassociated (16 partial sums, then lanes, then the tail); max/min
//! propagate NaN like `reduce_max`.

use super::code::{compile_func, kernel_signature, Features};
use super::emit::{Emitter, W};
use super::ew_gen::{load, load_ptrs, store, Ptrs};
use super::prog::{Bin, Prog, Red, Reg, Ty, E};
use super::reduce_plan::{in_loop, plan, spills, Plan, Spill};
use super::JitError;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Function, InstBuilder, Value};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

pub(crate) use ingot_runtime::jit::Pattern;

/// Row values at both widths, by register.
struct RowVals {
    s: Vec<Option<Value>>,
    v: Vec<Option<Value>>,
}

impl RowVals {
    fn set(&mut self, e: &mut Emitter, r: Reg, t: Ty, s: Value) {
        self.s[r] = Some(s);
        self.v[r] = Some(match t {
            Ty::Bool => {
                let w = e.b.ins().uextend(types::I32, s);
                let m = e.b.ins().ineg(w);
                e.b.ins().splat(types::I32X4, m)
            }
            _ => e.b.ins().splat(types::F32X4, s),
        });
    }

    fn get(&self, w: W) -> &[Option<Value>] {
        match w {
            W::S => &self.s,
            W::V => &self.v,
        }
    }
}

struct Gen<'p> {
    prog: &'p Prog,
    plan: Plan,
    spills: Vec<Spill>,
    ptrs: Ptrs,
    nin: usize,
    len: Value,
    unroll: usize,
}

impl Gen<'_> {
    /// Evaluate the registers in `set` for the elements at `i + lane`
    /// (spilled registers loaded from their output when `spilled`).
    #[allow(clippy::too_many_arguments)]
    fn eval_at(
        &self,
        e: &mut Emitter,
        w: W,
        fixed: &[Option<Value>],
        set: &[bool],
        spilled: bool,
        i: Value,
        lane: i32,
    ) -> Result<Vec<Option<Value>>, JitError> {
        let mut vals = fixed.to_vec();
        for (r, (node, t)) in self.prog.nodes.iter().enumerate() {
            if !set[r] {
                continue;
            }
            let from = spilled
                .then(|| self.spills.iter().find(|s| s.reg == r))
                .flatten();
            if let Some(s) = from {
                let a = self.addr(e, self.nin + s.out, i, t.size());
                vals[r] = Some(load(e, w, *t, a, lane * t.size() as i32));
                continue;
            }
            vals[r] = Some(match *node {
                E::Load(k) => {
                    let a = self.addr(e, k, i, t.size());
                    load(e, w, *t, a, lane * t.size() as i32)
                }
                _ => e.eval(w, self.prog, node, *t, &vals)?,
            });
        }
        Ok(vals)
    }

    fn addr(&self, e: &mut Emitter, k: usize, i: Value, size: usize) -> Value {
        let p = e.b.use_var(self.ptrs.p[k]);
        let off = e.b.ins().imul_imm_s(i, size as i64);
        e.b.ins().iadd(p, off)
    }

    /// Compute the needed per-row registers of stage `st` (scalar code).
    fn per_row(&self, e: &mut Emitter, rv: &mut RowVals, st: usize) -> Result<(), JitError> {
        for (r, (node, t)) in self.prog.nodes.iter().enumerate() {
            let p = &self.plan;
            if !p.needed[r] || p.varying[r] || p.stage[r] != st || rv.s[r].is_some() {
                continue;
            }
            let s = match *node {
                E::Load(k) => {
                    let a = e.b.use_var(self.ptrs.p[k]);
                    load(e, W::S, *t, a, 0)
                }
                E::Reduce(..) => return Err(JitError::Codegen(format!("r{r} not reduced"))),
                _ => e.eval(W::S, self.prog, node, *t, &rv.s)?,
            };
            rv.set(e, r, *t, s);
        }
        Ok(())
    }

    /// Emit `for i in 0..len`: an f32x4 loop unrolled `unroll` times, a
    /// single-vector loop, a scalar tail. `step(e, w, i, u)` emits the work
    /// for elements `i + 4u ..` (`u < unroll`; scalar steps have `u = 0`).
    fn row_loop<F>(&self, e: &mut Emitter, mut step: F) -> Result<(), JitError>
    where
        F: FnMut(&mut Emitter, W, Value, usize) -> Result<(), JitError>,
    {
        let i_var = e.b.declare_var(types::I64);
        let zero = e.b.ins().iconst(types::I64, 0);
        e.b.def_var(i_var, zero);
        let s_head = e.b.create_block();
        let (u_head, u_body) = (e.b.create_block(), e.b.create_block());
        let (v_head, v_body) = (e.b.create_block(), e.b.create_block());
        e.b.ins().jump(u_head, &[]);
        let unroll = self.unroll;
        for (head, body, next, n) in [
            (u_head, u_body, v_head, unroll),
            (v_head, v_body, s_head, 1),
        ] {
            let step_len = 4 * n as i64;
            e.b.switch_to_block(head);
            let i = e.b.use_var(i_var);
            let end = e.b.ins().iadd_imm_s(i, step_len);
            let fits = e.b.ins().icmp(IntCC::SignedLessThanOrEqual, end, self.len);
            e.b.ins().brif(fits, body, &[], next, &[]);
            e.b.switch_to_block(body);
            let i = e.b.use_var(i_var);
            for u in 0..n {
                step(e, W::V, i, u)?;
            }
            let i2 = e.b.ins().iadd_imm_s(i, step_len);
            e.b.def_var(i_var, i2);
            e.b.ins().jump(head, &[]);
        }
        let (s_body, done) = (e.b.create_block(), e.b.create_block());
        e.b.switch_to_block(s_head);
        let i = e.b.use_var(i_var);
        let more = e.b.ins().icmp(IntCC::SignedLessThan, i, self.len);
        e.b.ins().brif(more, s_body, &[], done, &[]);
        e.b.switch_to_block(s_body);
        let i = e.b.use_var(i_var);
        step(e, W::S, i, 0)?;
        let i2 = e.b.ins().iadd_imm_s(i, 1);
        e.b.def_var(i_var, i2);
        e.b.ins().jump(s_head, &[]);
        e.b.switch_to_block(done);
        Ok(())
    }

    fn combine(e: &mut Emitter, w: W, red: Red, a: Value, x: Value) -> Result<Value, JitError> {
        match red {
            Red::Sum => Ok(e.b.ins().fadd(a, x)),
            Red::Max => e.binary(w, Bin::Max, Ty::F32, a, x),
            Red::Min => e.binary(w, Bin::Min, Ty::F32, a, x),
        }
    }

    /// One pass accumulating the reductions `reds` (register, kind, operand).
    fn reduce_pass(
        &self,
        e: &mut Emitter,
        rv: &mut RowVals,
        pass: usize,
        reds: &[(Reg, Red, Reg)],
    ) -> Result<(), JitError> {
        let roots: Vec<Reg> = reds.iter().map(|r| r.2).collect();
        let none = vec![false; self.prog.nodes.len()];
        let set = in_loop(self.prog, &self.plan, &roots, &none);
        let spills: Vec<&Spill> = self.spills.iter().filter(|s| s.pass == pass).collect();
        let init = |red: Red| match red {
            Red::Sum => 0.0,
            Red::Max => f32::NEG_INFINITY,
            Red::Min => f32::INFINITY,
        };
        // acc[u][j]: vector partials; sacc[j]: the scalar tail's.
        let mut acc: Vec<Vec<Variable>> = vec![];
        for _ in 0..self.unroll {
            let mut row = vec![];
            for &(_, red, _) in reds {
                let var = e.b.declare_var(types::F32X4);
                let c = e.cf(W::V, init(red));
                e.b.def_var(var, c);
                row.push(var);
            }
            acc.push(row);
        }
        let mut sacc = vec![];
        for &(_, red, _) in reds {
            let var = e.b.declare_var(types::F32);
            let c = e.cf(W::S, init(red));
            e.b.def_var(var, c);
            sacc.push(var);
        }
        self.row_loop(e, |e, w, i, u| {
            let lane = 4 * u as i32;
            let vals = self.eval_at(e, w, rv.get(w), &set, false, i, lane)?;
            for s in &spills {
                let v = vals[s.reg].ok_or_else(|| JitError::Codegen("spill undefined".into()))?;
                let a = self.addr(e, self.nin + s.out, i, 4);
                store(e, w, Ty::F32, v, a, lane * 4);
            }
            for (j, &(_, red, x)) in reds.iter().enumerate() {
                let var = if w == W::V { acc[u][j] } else { sacc[j] };
                let a = e.b.use_var(var);
                let x = vals[x].ok_or_else(|| JitError::Codegen(format!("r{x} undefined")))?;
                let c = Self::combine(e, w, red, a, x)?;
                e.b.def_var(var, c);
            }
            Ok(())
        })?;
        for (j, &(r, red, _)) in reds.iter().enumerate() {
            let mut v = e.b.use_var(acc[0][j]);
            for row in &acc[1..] {
                let a = e.b.use_var(row[j]);
                v = Self::combine(e, W::V, red, v, a)?;
            }
            let l: Vec<Value> = (0..4).map(|k| e.b.ins().extractlane(v, k)).collect();
            let lo = Self::combine(e, W::S, red, l[0], l[1])?;
            let hi = Self::combine(e, W::S, red, l[2], l[3])?;
            let h = Self::combine(e, W::S, red, lo, hi)?;
            let tail = e.b.use_var(sacc[j]);
            let h = Self::combine(e, W::S, red, h, tail)?;
            rv.set(e, r, Ty::F32, h);
        }
        Ok(())
    }

    /// Write the full-row outputs.
    fn write_pass(&self, e: &mut Emitter, rv: &RowVals, full: &[bool]) -> Result<(), JitError> {
        let outs: Vec<(usize, Reg)> = self
            .prog
            .outputs
            .iter()
            .enumerate()
            .filter(|&(j, _)| full[j])
            .map(|(j, &r)| (j, r))
            .collect();
        if outs.is_empty() {
            return Ok(());
        }
        let roots: Vec<Reg> = outs.iter().map(|o| o.1).collect();
        let mut stop = vec![false; self.prog.nodes.len()];
        for s in &self.spills {
            stop[s.reg] = true;
        }
        let set = in_loop(self.prog, &self.plan, &roots, &stop);
        self.row_loop(e, |e, w, i, u| {
            let lane = 4 * u as i32;
            let vals = self.eval_at(e, w, rv.get(w), &set, true, i, lane)?;
            for &(j, r) in &outs {
                let t = self.prog.ty(r);
                let a = self.addr(e, self.nin + j, i, t.size());
                let v = vals[r].ok_or_else(|| JitError::Codegen(format!("r{r} undefined")))?;
                store(e, w, t, v, a, lane * t.size() as i32);
            }
            Ok(())
        })
    }
}

/// Build the row-reduction function for `prog` with pattern `pat`.
pub(crate) fn compile(
    prog: &Prog,
    pat: &Pattern,
    isa: &OwnedTargetIsa,
    feat: Features,
) -> Result<Vec<u8>, JitError> {
    let mut func = Function::new();
    func.signature = kernel_signature(isa);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let nin = prog.inputs.len();
    let nops = nin + prog.outputs.len();
    let used = |k: usize| k >= nin || prog.inputs[k].is_some();

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (rows, len, pp, prs) = (params[0], params[1], params[2], params[3]);
    let ptrs = load_ptrs(&mut b, nops, &used, pp, prs);
    let plan = plan(prog, pat);
    let n = prog.nodes.len();
    for (j, &r) in prog.outputs.iter().enumerate() {
        if !pat.full[j] && plan.varying[r] {
            return Err(JitError::Codegen(format!(
                "output {j} is per-row but varies along the row"
            )));
        }
    }
    let mut e = Emitter { b: &mut b, feat };
    // Constants and the row length once, in the entry block.
    let mut consts = RowVals {
        s: vec![None; n],
        v: vec![None; n],
    };
    for (r, (node, t)) in prog.nodes.iter().enumerate() {
        match node {
            E::ConstF(_) | E::ConstB(_) => {
                let s = e.eval(W::S, prog, node, *t, &[])?;
                consts.s[r] = Some(s);
                consts.v[r] = Some(e.eval(W::V, prog, node, *t, &[])?);
            }
            E::RowLen => {
                let s = e.b.ins().fcvt_from_sint(types::F32, len);
                consts.set(&mut e, r, *t, s);
            }
            _ => {}
        }
    }
    let pass_reds: Vec<Vec<(Reg, Red, Reg)>> = (1..=plan.passes)
        .map(|p| {
            (0..n)
                .filter(|&r| plan.needed[r] && plan.stage[r] == p)
                .filter_map(|r| match prog.nodes[r].0 {
                    E::Reduce(red, x) => Some((r, red, x)),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let roots: Vec<Vec<Reg>> = pass_reds
        .iter()
        .map(|reds| reds.iter().map(|r| r.2).collect())
        .collect();
    let g = Gen {
        prog,
        unroll: if prog.cost() > 60 { 2 } else { 4 },
        spills: spills(prog, &plan, pat, &roots),
        plan,
        ptrs,
        nin,
        len,
    };
    let r_var = e.b.declare_var(types::I64);
    let zero = e.b.ins().iconst(types::I64, 0);
    e.b.def_var(r_var, zero);
    let (row_head, row_body, exit) = (e.b.create_block(), e.b.create_block(), e.b.create_block());
    e.b.ins().jump(row_head, &[]);
    e.b.switch_to_block(row_head);
    let r = e.b.use_var(r_var);
    let more = e.b.ins().icmp(IntCC::SignedLessThan, r, rows);
    e.b.ins().brif(more, row_body, &[], exit, &[]);

    e.b.switch_to_block(row_body);
    let mut rv = RowVals {
        s: consts.s.clone(),
        v: consts.v.clone(),
    };
    g.per_row(&mut e, &mut rv, 0)?;
    for (p, reds) in pass_reds.iter().enumerate() {
        g.reduce_pass(&mut e, &mut rv, p + 1, reds)?;
        g.per_row(&mut e, &mut rv, p + 1)?;
    }
    for (j, &r) in prog.outputs.iter().enumerate() {
        if !pat.full[j] {
            let t = prog.ty(r);
            let v = rv.s[r].ok_or_else(|| JitError::Codegen(format!("r{r} undefined")))?;
            let a = e.b.use_var(g.ptrs.p[nin + j]);
            store(&mut e, W::S, t, v, a, 0);
        }
    }
    g.write_pass(&mut e, &rv, &pat.full)?;
    for k in 0..nops {
        if used(k) {
            let p = e.b.use_var(g.ptrs.p[k]);
            let p2 = e.b.ins().iadd(p, g.ptrs.rs[k]);
            e.b.def_var(g.ptrs.p[k], p2);
        }
    }
    let r = e.b.use_var(r_var);
    let r2 = e.b.ins().iadd_imm_s(r, 1);
    e.b.def_var(r_var, r2);
    e.b.ins().jump(row_head, &[]);

    e.b.switch_to_block(exit);
    e.b.ins().return_(&[]);
    e.b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    compile_func(isa, func)
}
