//! Result types for the pool ops (semantics in `interp/pool.rs`).
//!
//! Local pools take `x: [N, C, D...]` (rank >= 3) and give `[N, C, out...]`
//! with the window geometry of `contraction/window.rs`. MaxPool always has
//! two results: the values and their flat `i64` indices into `x`. Global
//! pools keep every spatial axis as 1 (rank >= 2). Dtypes: floats, and for
//! MaxPool also `i8`/`u8`.

use super::contraction::window::{pool_geometry, PoolAttrs};
use super::{arity, invalid, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let err = |m: String| invalid(op, m);
    let max_dtypes = |d: DType| d.is_float() || matches!(d, DType::I8 | DType::U8);
    match op {
        Op::MaxPool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            storage_order,
        } => {
            check_dtype(op, x, max_dtypes, "a float type, i8 or u8")?;
            if !matches!(storage_order, 0 | 1) {
                return Err(err(format!(
                    "storage_order {storage_order} must be 0 (row major) or 1 (column major)"
                )));
            }
            let a = PoolAttrs {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode: *ceil_mode,
                auto_pad: *auto_pad,
            };
            let g = pool_geometry(&x.shape, a).map_err(err)?;
            Ok(vec![
                x.with_shape(g.shape.clone()),
                TensorType::new(DType::I64, g.shape),
            ])
        }
        Op::AveragePool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            ..
        }
        | Op::LpPool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            ..
        } => {
            check_dtype(op, x, DType::is_float, "a float type")?;
            if let Op::LpPool { p, .. } = op {
                check_p(op, *p)?;
            }
            let a = PoolAttrs {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode: *ceil_mode,
                auto_pad: *auto_pad,
            };
            let g = pool_geometry(&x.shape, a).map_err(err)?;
            Ok(vec![x.with_shape(g.shape)])
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool | Op::GlobalLpPool { .. } => {
            check_dtype(op, x, DType::is_float, "a float type")?;
            if let Op::GlobalLpPool { p } = op {
                check_p(op, *p)?;
            }
            if x.rank() < 2 {
                return Err(err(format!(
                    "input {x} must have rank >= 2 (N, C, spatial...)"
                )));
            }
            let mut shape = x.shape[..2].to_vec();
            shape.resize(x.rank(), Dim::Known(1));
            Ok(vec![x.with_shape(shape)])
        }
        _ => unreachable!("{} is not a pool op", op.name()),
    }
}

fn check_dtype(
    op: &Op,
    x: &TensorType,
    ok: impl Fn(DType) -> bool,
    what: &str,
) -> Result<(), InferError> {
    if ok(x.dtype) {
        Ok(())
    } else {
        Err(invalid(op, format!("input is {x}; expected {what}")))
    }
}

fn check_p(op: &Op, p: i64) -> Result<(), InferError> {
    if p < 1 {
        return Err(invalid(op, format!("p = {p} must be at least 1")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::AutoPad;

    fn f32s(dims: &[i64]) -> TensorType {
        TensorType::new(DType::F32, dims.iter().map(|&d| Dim::Known(d)))
    }

    fn run(op: &Op, x: TensorType) -> Result<Vec<TensorType>, String> {
        infer(op, &[InferInput::of_type(&x)]).map_err(|e| e.to_string())
    }

    fn max_pool(k: &[i64], s: &[i64], pads: &[i64], ceil_mode: bool, auto_pad: AutoPad) -> Op {
        Op::MaxPool {
            kernel_shape: k.to_vec(),
            strides: s.to_vec(),
            pads: pads.to_vec(),
            dilations: vec![],
            ceil_mode,
            auto_pad,
            storage_order: 0,
        }
    }

    #[test]
    fn max_pool_has_values_and_indices() {
        let r = run(
            &max_pool(&[2, 2], &[2, 2], &[], false, AutoPad::NotSet),
            f32s(&[0, 3, 5, 4]),
        )
        .unwrap();
        assert_eq!(r[0], f32s(&[0, 3, 2, 2]));
        assert_eq!(r[1], TensorType::fixed(DType::I64, &[0, 3, 2, 2]));
        let r = run(
            &max_pool(&[2], &[2], &[], false, AutoPad::NotSet),
            TensorType::fixed(DType::U8, &[1, 1, 4]),
        );
        assert_eq!(r.unwrap()[0].dtype, DType::U8);
        assert!(run(
            &max_pool(&[2], &[], &[], false, AutoPad::NotSet),
            TensorType::fixed(DType::I32, &[1, 1, 4])
        )
        .is_err());
    }

    #[test]
    fn ceil_mode_drops_windows_starting_in_right_padding() {
        // in 5, k 2, s 2: floor -> 2, ceil -> 3 (last window starts at 4, inside).
        let op = max_pool(&[2], &[2], &[], true, AutoPad::NotSet);
        assert_eq!(run(&op, f32s(&[1, 1, 5])).unwrap()[0], f32s(&[1, 1, 3]));
        let op = max_pool(&[2], &[2], &[], false, AutoPad::NotSet);
        assert_eq!(run(&op, f32s(&[1, 1, 5])).unwrap()[0], f32s(&[1, 1, 2]));
        // in 4, k 1, s 2, pads (0,1): ceil((4+1-1)/2)+1 = 3 but window 2
        // would start at 4, in the right padding: dropped.
        let op = max_pool(&[1], &[2], &[0, 1], true, AutoPad::NotSet);
        assert_eq!(run(&op, f32s(&[1, 1, 4])).unwrap()[0], f32s(&[1, 1, 2]));
        // Symbolic: k 3, s 2, pads (1,1) never needs the correction.
        let x = TensorType::new(DType::F32, [1.into(), 1.into(), Dim::var("h")]);
        let op = max_pool(&[3], &[2], &[1, 1], true, AutoPad::NotSet);
        let want = Dim::var("h")
            .sub(&1.into())
            .ceil_div(&2.into())
            .add(&1.into());
        assert_eq!(run(&op, x.clone()).unwrap()[0].shape[2], want);
        // k 1, s 2, pads (0,1) might: unknown.
        let op = max_pool(&[1], &[2], &[0, 1], true, AutoPad::NotSet);
        assert_eq!(run(&op, x).unwrap()[0].shape[2], Dim::Unknown);
    }

    #[test]
    fn pool_errors_name_shapes() {
        let e = run(
            &max_pool(&[3, 3], &[], &[], false, AutoPad::NotSet),
            f32s(&[1, 1, 2, 5]),
        )
        .unwrap_err();
        assert!(e.contains("[1,1,2,5]") && e.contains("[3, 3]"), "{e}");
        let e = run(
            &max_pool(&[3], &[], &[], false, AutoPad::NotSet),
            f32s(&[1, 1, 2, 5]),
        )
        .unwrap_err();
        assert!(e.contains("one entry per spatial axis"), "{e}");
        let e = run(
            &max_pool(&[1], &[], &[], false, AutoPad::NotSet),
            f32s(&[1, 5]),
        )
        .unwrap_err();
        assert!(e.contains("rank >= 3"), "{e}");
        let lp = Op::LpPool {
            kernel_shape: vec![2],
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            ceil_mode: false,
            auto_pad: AutoPad::NotSet,
            p: 0,
        };
        assert!(run(&lp, f32s(&[1, 1, 4])).unwrap_err().contains("p = 0"));
    }

    #[test]
    fn global_pools_keep_spatial_axes() {
        let x = TensorType::new(DType::F16, [Dim::var("n"), 8.into(), 7.into(), 7.into()]);
        let r = run(&Op::GlobalAveragePool, x).unwrap();
        assert_eq!(r[0].to_string(), "f16[n,8,1,1]");
        assert_eq!(
            run(&Op::GlobalMaxPool, f32s(&[2, 3])).unwrap()[0],
            f32s(&[2, 3])
        );
        assert!(run(&Op::GlobalMaxPool, f32s(&[3])).is_err());
    }
}
