//! Code generation for elementwise kernels: a two-level loop (rows × a
//! contiguous inner run) around the body.
//!
//! The function is `fn(rows, len, ptrs, row_strides)`: operand `k` (inputs,
//! then outputs) starts at `ptrs[k]` and advances `row_strides[k]` bytes per
//! row. Within a row each input is either *contiguous* (element `i` at
//! `ptrs[k] + i·size`) or *splat* (one element per row, loaded once and
//! broadcast) — the pattern is baked in at compile time; outputs are always
//! contiguous. The inner run is an unrolled f32x4 loop (×4, or ×2 for heavy
//! bodies), a single-vector loop, then a scalar tail, so every `len` is
//! bounds-safe: no access ever leaves `[0, len)`. Each element's inputs are
//! read before its outputs are written, so an output may alias an input
//! exactly. Programs with integer values run the scalar loop only.

use super::code::{compile_func, kernel_signature, Features};
use super::emit::{bits, mem, Emitter, W};
use super::prog::{Prog, Ty, E};
use super::JitError;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Function, InstBuilder, Value};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

/// Operand pointers and strides as loop variables.
pub(crate) struct Ptrs {
    pub p: Vec<Variable>,
    pub rs: Vec<Value>,
}

/// Load element(s) of type `t` at `addr + off` (bytes) at width `w`.
pub(crate) fn load(e: &mut Emitter, w: W, t: Ty, addr: Value, off: i32) -> Value {
    match (w, t) {
        (W::S, Ty::Bool) => {
            let b = e.b.ins().load(types::I8, mem(), addr, off);
            e.b.ins().icmp_imm_s(IntCC::NotEqual, b, 0)
        }
        (W::S, _) => {
            let ty = Emitter::rty(w, t);
            e.b.ins().load(ty, mem(), addr, off)
        }
        (W::V, Ty::Bool) => {
            // Four bytes → four i32 lanes → masks.
            let word = e.b.ins().load(types::I32, mem(), addr, off);
            let v = e.b.ins().scalar_to_vector(types::I32X4, word);
            let b = e.b.ins().bitcast(types::I8X16, bits(), v);
            let h = e.b.ins().uwiden_low(b);
            let l = e.b.ins().uwiden_low(h);
            let zero = e.ci(W::V, 0);
            e.b.ins().icmp(IntCC::NotEqual, l, zero)
        }
        (W::V, _) => e.b.ins().load(types::F32X4, mem(), addr, off),
    }
}

/// Store `v` (type `t`, width `w`) at `addr + off`.
pub(crate) fn store(e: &mut Emitter, w: W, t: Ty, v: Value, addr: Value, off: i32) {
    match (w, t) {
        (W::V, Ty::Bool) => {
            let one = e.ci(W::V, 1);
            let b = e.b.ins().band(v, one);
            let h = e.b.ins().snarrow(b, b);
            let q = e.b.ins().snarrow(h, h);
            let q32 = e.b.ins().bitcast(types::I32X4, bits(), q);
            let word = e.b.ins().extractlane(q32, 0);
            e.b.ins().store(mem(), word, addr, off);
        }
        _ => {
            e.b.ins().store(mem(), v, addr, off);
        }
    }
}

/// Load every operand's base pointer (a variable, advanced row by row) and
/// row stride from the kernel's `ptrs` / `row_strides` arrays; unused
/// inputs get zeros.
pub(crate) fn load_ptrs(
    b: &mut FunctionBuilder,
    nops: usize,
    used: &dyn Fn(usize) -> bool,
    pp: Value,
    prs: Value,
) -> Ptrs {
    let mut ptrs = Ptrs {
        p: vec![],
        rs: vec![],
    };
    for k in 0..nops {
        let var = b.declare_var(types::I64);
        let (base, rs) = if used(k) {
            let off = (k * 8) as i32;
            (
                b.ins().load(types::I64, mem(), pp, off),
                b.ins().load(types::I64, mem(), prs, off),
            )
        } else {
            let z = b.ins().iconst(types::I64, 0);
            (z, z)
        };
        b.def_var(var, base);
        ptrs.p.push(var);
        ptrs.rs.push(rs);
    }
    ptrs
}

/// Build the elementwise function for `prog` with input pattern `contig`.
pub(crate) fn compile(
    prog: &Prog,
    contig: &[bool],
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
    let vector = prog.vectorizable();
    let mut e = Emitter { b: &mut b, feat };
    // Constants once, in the entry block (they dominate every loop).
    let mut consts_s = vec![None; prog.nodes.len()];
    let mut consts_v = vec![None; prog.nodes.len()];
    for (r, (node, t)) in prog.nodes.iter().enumerate() {
        if matches!(node, E::ConstF(_) | E::ConstB(_) | E::ConstI(_)) {
            consts_s[r] = Some(e.eval(W::S, prog, node, *t, &[])?);
            if vector {
                consts_v[r] = Some(e.eval(W::V, prog, node, *t, &[])?);
            }
        }
    }
    let r_var = e.b.declare_var(types::I64);
    let i_var = e.b.declare_var(types::I64);
    let zero = e.b.ins().iconst(types::I64, 0);
    e.b.def_var(r_var, zero);
    let row_head = e.b.create_block();
    let row_body = e.b.create_block();
    let exit = e.b.create_block();
    e.b.ins().jump(row_head, &[]);

    e.b.switch_to_block(row_head);
    let r = e.b.use_var(r_var);
    let more = e.b.ins().icmp(IntCC::SignedLessThan, r, rows);
    e.b.ins().brif(more, row_body, &[], exit, &[]);

    e.b.switch_to_block(row_body);
    // Splat operands: one element per row, in both widths.
    let mut splat_s = consts_s;
    let mut splat_v = consts_v;
    for (r, (node, t)) in prog.nodes.iter().enumerate() {
        if let E::Load(k) = *node {
            if !contig[k] {
                let addr = e.b.use_var(ptrs.p[k]);
                let s = load(&mut e, W::S, *t, addr, 0);
                splat_s[r] = Some(s);
                if vector {
                    splat_v[r] = Some(match t {
                        Ty::Bool => {
                            let w = e.b.ins().uextend(types::I32, s);
                            let m = e.b.ins().ineg(w);
                            e.b.ins().splat(types::I32X4, m)
                        }
                        _ => e.b.ins().splat(types::F32X4, s),
                    });
                }
            }
        }
    }
    e.b.def_var(i_var, zero);
    let cost = prog.cost();
    let unroll: i64 = if cost > 60 { 2 } else { 4 };
    let s_head = e.b.create_block();
    if vector {
        let step = 4 * unroll;
        let u_head = e.b.create_block();
        let u_body = e.b.create_block();
        let v_head = e.b.create_block();
        let v_body = e.b.create_block();
        e.b.ins().jump(u_head, &[]);
        for (head, body, next, step, n) in [
            (u_head, u_body, v_head, step, unroll),
            (v_head, v_body, s_head, 4, 1),
        ] {
            e.b.switch_to_block(head);
            let i = e.b.use_var(i_var);
            let end = e.b.ins().iadd_imm_s(i, step);
            let fits = e.b.ins().icmp(IntCC::SignedLessThanOrEqual, end, len);
            e.b.ins().brif(fits, body, &[], next, &[]);
            e.b.switch_to_block(body);
            let i = e.b.use_var(i_var);
            for u in 0..n {
                body_at(&mut e, W::V, prog, &ptrs, &splat_v, i, (4 * u) as i32, nin)?;
            }
            let i2 = e.b.ins().iadd_imm_s(i, step);
            e.b.def_var(i_var, i2);
            e.b.ins().jump(head, &[]);
        }
    } else {
        e.b.ins().jump(s_head, &[]);
    }
    let s_body = e.b.create_block();
    let row_end = e.b.create_block();
    e.b.switch_to_block(s_head);
    let i = e.b.use_var(i_var);
    let more = e.b.ins().icmp(IntCC::SignedLessThan, i, len);
    e.b.ins().brif(more, s_body, &[], row_end, &[]);
    e.b.switch_to_block(s_body);
    let i = e.b.use_var(i_var);
    body_at(&mut e, W::S, prog, &ptrs, &splat_s, i, 0, nin)?;
    let i2 = e.b.ins().iadd_imm_s(i, 1);
    e.b.def_var(i_var, i2);
    e.b.ins().jump(s_head, &[]);

    e.b.switch_to_block(row_end);
    for k in 0..nops {
        if used(k) {
            let p = e.b.use_var(ptrs.p[k]);
            let p2 = e.b.ins().iadd(p, ptrs.rs[k]);
            e.b.def_var(ptrs.p[k], p2);
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

/// Evaluate the program for the elements at `i + lane` (lane offset in
/// elements) and store the outputs.
#[allow(clippy::too_many_arguments)]
fn body_at(
    e: &mut Emitter,
    w: W,
    prog: &Prog,
    ptrs: &Ptrs,
    fixed: &[Option<Value>],
    i: Value,
    lane: i32,
    nin: usize,
) -> Result<(), JitError> {
    let mut vals: Vec<Option<Value>> = fixed.to_vec();
    let addr = |e: &mut Emitter, k: usize, size: usize| {
        let p = e.b.use_var(ptrs.p[k]);
        let off = e.b.ins().imul_imm_s(i, size as i64);
        e.b.ins().iadd(p, off)
    };
    for (r, (node, t)) in prog.nodes.iter().enumerate() {
        if vals[r].is_some() {
            continue;
        }
        vals[r] = Some(match *node {
            E::Load(k) => {
                let a = addr(e, k, t.size());
                load(e, w, *t, a, lane * t.size() as i32)
            }
            _ => e.eval(w, prog, node, *t, &vals)?,
        });
    }
    for (j, &r) in prog.outputs.iter().enumerate() {
        let t = prog.ty(r);
        let a = addr(e, nin + j, t.size());
        let v = vals[r].ok_or_else(|| JitError::Codegen("output undefined".into()))?;
        store(e, w, t, v, a, lane * t.size() as i32);
    }
    Ok(())
}
