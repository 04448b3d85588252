//! The depthwise loop on every level this host runs, against the
//! interpreter bit for bit (the contract tests in `tests/contract_quant.rs`
//! see only the best level; the GEMM paths' levels are `qgemm`'s tests).

use super::direct::{Level, FORCE};
use super::QConvKernel;
use crate::kernel::{Arg, Ctx, Kernel};
use ingot_ir::attr::AutoPad;
use ingot_ir::{DType, Op, Tensor};

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 32) as u8
        })
        .collect()
}

fn scalar(dt: DType, v: f64) -> Tensor {
    Tensor::from_f64s(dt, &[], &[v]).unwrap()
}

/// One depthwise case: `c` channels times `mult` outputs each.
#[derive(Clone, Copy)]
struct Case {
    x: [usize; 4],
    mult: usize,
    k: [usize; 2],
    s: i64,
    d: [i64; 2],
    pads: [i64; 4],
    x_dt: DType,
    x_zp: i64,
    y_dt: DType,
    integer: bool,
}

impl Case {
    fn run(&self, seed: u64) {
        let [n, c, h, w] = self.x;
        let m = c * self.mult;
        let attrs = (
            vec![self.s; 2],
            self.pads.to_vec(),
            self.d.to_vec(),
            c as i64,
            AutoPad::NotSet,
        );
        let (strides, pads, dilations, group, auto_pad) = attrs;
        let x = Tensor::from_bytes(self.x_dt, &self.x, &bytes(n * c * h * w, seed)).unwrap();
        let wshape = [m, 1, self.k[0], self.k[1]];
        let wt = Tensor::from_bytes(
            DType::I8,
            &wshape,
            &bytes(m * self.k[0] * self.k[1], seed + 1),
        )
        .unwrap();
        let x_zp = scalar(self.x_dt, self.x_zp as f64);
        let (op, ins) = if self.integer {
            let op = Op::ConvInteger {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            };
            (op, vec![x, wt, x_zp])
        } else {
            let op = Op::QLinearConv {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            };
            let sw: Vec<f32> = (0..m).map(|i| 0.002 + 0.001 * (i % 3) as f32).collect();
            let bias: Vec<i32> = (0..m as i32).map(|i| i * 311 - 2000).collect();
            let ins = vec![
                x,
                scalar(DType::F32, 0.02),
                x_zp,
                wt,
                Tensor::from_vec(&[m], sw).unwrap(),
                Tensor::from_i64s(DType::I8, &[m], &vec![0; m]).unwrap(),
                scalar(DType::F32, 0.3),
                scalar(self.y_dt, if self.y_dt == DType::U8 { 128.0 } else { -3.0 }),
                Tensor::from_vec(&[m], bias).unwrap(),
            ];
            (op, ins)
        };
        let refs: Vec<&Tensor> = ins.iter().collect();
        let want = ingot_ir::interp::eval_op(&op, &refs).unwrap().remove(0);
        let types: Vec<_> = ins.iter().map(|t| t.ty()).collect();
        let consts: Vec<Option<Tensor>> = ins
            .iter()
            .enumerate()
            .map(|(i, t)| (i > 0).then(|| t.clone()))
            .collect();
        let k = QConvKernel::new(&op, &types, &consts).unwrap();
        assert!(k.describe().contains("depthwise"), "{}", k.describe());
        let args: Vec<Arg> = ins
            .iter()
            .map(|t| Arg {
                ptr: t.bytes().as_ptr() as *mut u8,
                dtype: t.dtype(),
                shape: t.shape(),
            })
            .collect();
        for level in Level::available() {
            let mut out = want.clone();
            out.bytes_mut().fill(0xA5);
            let shape = out.shape().to_vec();
            let outs = [Arg {
                ptr: out.bytes_mut().as_mut_ptr(),
                dtype: out.dtype(),
                shape: &shape,
            }];
            FORCE.with(|f| f.set(Some(level)));
            // SAFETY: live tensors of their dtypes and shapes; one thread,
            // so the forced level applies to every tile.
            let r = unsafe { k.run(&args, &outs, &Ctx { threads: 1 }) };
            FORCE.with(|f| f.set(None));
            r.unwrap();
            assert_eq!(
                out.to_i64s(),
                want.to_i64s(),
                "{level:?}: x {:?} k {:?} s {} d {:?} pads {:?} {} zp {} -> {}",
                self.x,
                self.k,
                self.s,
                self.d,
                self.pads,
                self.x_dt,
                self.x_zp,
                want.dtype()
            );
        }
    }
}

#[test]
fn depthwise_every_level_matches_the_interpreter() {
    let base = Case {
        x: [2, 3, 9, 37],
        mult: 1,
        k: [3, 3],
        s: 1,
        d: [1, 1],
        pads: [1, 1, 1, 1],
        x_dt: DType::U8,
        x_zp: 7,
        y_dt: DType::U8,
        integer: false,
    };
    let cases = [
        Case { ..base },
        Case { s: 2, ..base },
        Case {
            s: 3,
            pads: [0, 2, 1, 0],
            ..base
        },
        Case { s: 5, ..base },
        Case { d: [2, 3], ..base },
        Case {
            k: [5, 5],
            pads: [2, 2, 2, 2],
            s: 2,
            ..base
        },
        Case {
            k: [1, 7],
            pads: [0, 3, 0, 3],
            ..base
        },
        // Kernel rows of 6 taps: groups of 4 and 2 at stride 2 (VNNI).
        Case {
            k: [2, 6],
            d: [1, 5],
            pads: [0, 0, 1, 1],
            s: 2,
            ..base
        },
        Case {
            x: [1, 2, 4, 80],
            k: [1, 6],
            d: [1, 9],
            s: 4,
            ..base
        },
        Case {
            mult: 2,
            x: [1, 2, 5, 16],
            ..base
        },
        Case {
            x_dt: DType::I8,
            x_zp: -128,
            y_dt: DType::I8,
            ..base
        },
        Case {
            x_dt: DType::I8,
            x_zp: 127,
            ..base
        },
        Case {
            x_zp: 255,
            y_dt: DType::I8,
            ..base
        },
        Case {
            integer: true,
            ..base
        },
        Case {
            integer: true,
            x_dt: DType::I8,
            x_zp: 3,
            s: 2,
            ..base
        },
        Case {
            x: [1, 4, 1, 1],
            pads: [1, 1, 1, 1],
            ..base
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        c.run(i as u64);
    }
}
