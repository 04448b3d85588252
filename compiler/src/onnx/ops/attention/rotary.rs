//! ONNX `RotaryEmbedding` (opset 23), decomposed as its reference does:
//! view the input as `[B, S, heads, D]`, rotate the first
//! `rotary_embedding_dim` features (halves, or even/odd pairs when
//! `interleaved`) by the cos/sin caches (gathered by `position_ids` when
//! given, else already `[B, S, rot/2]`), pass the rest through, and restore
//! the input layout. The rotary dim must be static (it sizes the split).

use super::{known_dim, reshape, transpose, Cx};
use crate::onnx::OnnxError;
use ingot_ir::{Op, Value};

pub(super) fn rotary_embedding(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let (cos, sin) = (cx.req(1)?, cx.req(2)?);
    let pos = cx.input(3)?;
    let interleaved = cx.a(cx.attrs.bool("interleaved", false))?;
    let rot_attr = cx.a(cx.attrs.int("rotary_embedding_dim", 0))?;
    let num_heads = cx.a(cx.attrs.int("num_heads", 0))?;
    let rank = cx.rank(x);

    // [B, S, heads, D].
    let x4 = match rank {
        4 => transpose(cx, x, &[0, 2, 1, 3])?,
        3 if num_heads > 0 => reshape(cx, x, &[0, 0, num_heads, -1])?,
        3 => return Err(cx.err("3-D input needs a positive num_heads")),
        _ => return Err(cx.err(format!("input must be 3-D or 4-D, got rank {rank}"))),
    };
    let head = known_dim(cx, x4, 3);
    let rot = if rot_attr > 0 { Some(rot_attr) } else { head };
    let Some(rot) = rot else {
        return Err(cx.err("the head size must be static when rotary_embedding_dim is 0"));
    };
    if rot % 2 != 0 || head.is_some_and(|h| rot > h) {
        return Err(cx.err(format!(
            "rotary_embedding_dim {rot} must be even and at most the head size"
        )));
    }
    let half = rot / 2;

    let slice = |cx: &mut Cx, v: Value, start: i64, end: i64, step: i64| {
        let s = cx.const_i64s(&[start]);
        let e = cx.const_i64s(&[end]);
        let a = cx.const_i64s(&[3]);
        let st = cx.const_i64s(&[step]);
        cx.add1(Op::Slice, &[v, s, e, a, st])
    };
    let passes = head != Some(rot);
    let x_rot = if passes {
        slice(cx, x4, 0, rot, 1)?
    } else {
        x4
    };

    // cos/sin as [B, S, 1, rot/2].
    let mut caches = vec![];
    for c in [cos, sin] {
        let c = match pos {
            Some(p) => cx.add1(Op::Gather { axis: 0 }, &[c, p])?,
            None => c,
        };
        let last = cx.ty(c).shape.last().cloned();
        if last
            .as_ref()
            .and_then(|d| d.as_known())
            .is_some_and(|d| d != half)
        {
            return Err(cx.err(format!(
                "cos/sin caches' last dim ({}) must be rotary_embedding_dim / 2 ({half})",
                last.expect("rank >= 1")
            )));
        }
        caches.push(cx.add1(Op::Unsqueeze { axes: vec![2] }, &[c])?);
    }
    let (cos, sin) = (caches[0], caches[1]);

    let (x1, x2) = if interleaved {
        (slice(cx, x_rot, 0, rot, 2)?, slice(cx, x_rot, 1, rot, 2)?)
    } else {
        let parts = cx.add(
            Op::Split {
                axis: 3,
                splits: vec![half, half],
            },
            &[x_rot],
        )?;
        (parts[0], parts[1])
    };
    let mul = |cx: &mut Cx, a: Value, b: Value| cx.add1(Op::Mul, &[a, b]);
    let (c1, s2) = (mul(cx, cos, x1)?, mul(cx, sin, x2)?);
    let real = cx.add1(Op::Sub, &[c1, s2])?;
    let (s1, c2) = (mul(cx, sin, x1)?, mul(cx, cos, x2)?);
    let imag = cx.add1(Op::Add, &[s1, c2])?;

    let rotated = if interleaved {
        let r = cx.add1(Op::Unsqueeze { axes: vec![4] }, &[real])?;
        let i = cx.add1(Op::Unsqueeze { axes: vec![4] }, &[imag])?;
        let pairs = cx.add1(Op::Concat { axis: 4 }, &[r, i])?;
        reshape(cx, pairs, &[0, 0, 0, rot])?
    } else {
        cx.add1(Op::Concat { axis: 3 }, &[real, imag])?
    };
    let out = if passes {
        let rest = slice(cx, x4, rot, i64::MAX, 1)?;
        cx.add1(Op::Concat { axis: 3 }, &[rotated, rest])?
    } else {
        rotated
    };
    let y = if rank == 4 {
        transpose(cx, out, &[0, 2, 1, 3])?
    } else {
        reshape(cx, out, &[0, 0, -1])?
    };
    Ok(vec![y])
}
