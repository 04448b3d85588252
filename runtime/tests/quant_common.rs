//! Case builders shared by the quantized kernel tests and benchmark
//! (included as a module by `contract_quant.rs` and `quant_bench.rs`; as
//! its own test target it holds no tests): random quantized operands with
//! scales that spread the results over the output type's range, the kernel
//! built as the compiler builds it, and exact comparison with the
//! interpreter at 1 and 2 threads.
#![allow(dead_code)]

use ingot_ir::attr::AutoPad;
use ingot_ir::{DType, Op, Tensor};
use ingot_runtime::kernels::contraction_kernel;
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::{Arg, Ctx, Kernel};

/// Deterministic bytes (xorshift), so failures reproduce.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
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

/// A u8 or i8 tensor of random bytes over the type's full range.
pub fn q_tensor(dt: DType, shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_bytes(dt, shape, &bytes(n, seed)).unwrap()
}

/// A one-element tensor of type `dt` (shape `[]`).
pub fn scalar(dt: DType, v: f64) -> Tensor {
    Tensor::from_f64s(dt, &[], &[v]).unwrap()
}

pub fn ints(dt: DType, shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64s(dt, shape, v).unwrap()
}

/// Build the kernel as the compiler does (a contraction kernel, else the
/// one `movement_kernel` builds): operand 0 at run time, every other
/// operand a constant.
pub fn build(op: &Op, ins: &[&Tensor]) -> Result<Box<dyn Kernel>, String> {
    let types: Vec<_> = ins.iter().map(|t| t.ty()).collect();
    let consts: Vec<Option<Tensor>> = ins
        .iter()
        .enumerate()
        .map(|(i, t)| (i > 0).then(|| (*t).clone()))
        .collect();
    contraction_kernel(op, &types, &consts, 1, None)
        .or_else(|| {
            let infer: Vec<_> = types.iter().map(ingot_ir::InferInput::of_type).collect();
            let out = ingot_ir::infer(op, &infer).ok()?;
            movement_kernel(op, &types, &consts, &out)
        })
        .expect("a native kernel for the op")
}

/// Run `k` on `ins` into a result of `like`'s dtype and shape.
pub fn run(
    k: &dyn Kernel,
    ins: &[&Tensor],
    like: &Tensor,
    threads: usize,
) -> Result<Tensor, String> {
    let mut out = Tensor::zeros(like.dtype(), like.shape()).unwrap();
    out.bytes_mut().fill(0xA5);
    let args: Vec<Arg> = ins
        .iter()
        .map(|t| Arg {
            ptr: t.bytes().as_ptr() as *mut u8,
            dtype: t.dtype(),
            shape: t.shape(),
        })
        .collect();
    let shape = out.shape().to_vec();
    let outs = [Arg {
        ptr: out.bytes_mut().as_mut_ptr(),
        dtype: like.dtype(),
        shape: &shape,
    }];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // SAFETY: the args point to live tensors of their dtype and shape; the
    // result overlaps no operand.
    pool.install(|| unsafe { k.run(&args, &outs, &Ctx { threads }) })
        .map_err(|e| e.0)?;
    Ok(out)
}

/// The interpreter's result vs the kernel's at 1 and 2 threads, exactly;
/// returns the kernel's description.
pub fn check(op: &Op, ins: &[&Tensor], what: &str) -> String {
    let want = ingot_ir::interp::eval_op(op, ins)
        .unwrap_or_else(|e| panic!("{what}: interpreter: {e}"))
        .remove(0);
    let k = build(op, ins).unwrap_or_else(|e| panic!("{what}: kernel refused: {e}"));
    for threads in [1, 2] {
        let got = run(&*k, ins, &want, threads).unwrap();
        if got.bytes() != want.bytes() {
            let (g, w) = (got.to_i64s(), want.to_i64s());
            let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap();
            panic!(
                "{what} [{}] threads {threads}: element {i} of {:?}: got {}, want {} \
                 ({} of {} differ)",
                k.describe(),
                want.shape(),
                g[i],
                w[i],
                g.iter().zip(&w).filter(|(a, b)| a != b).count(),
                w.len()
            );
        }
    }
    k.describe()
}

/// A quantized convolution case.
#[derive(Clone, Debug)]
pub struct QConv {
    pub x: Vec<usize>,
    pub w: Vec<usize>,
    pub strides: Vec<i64>,
    pub pads: Vec<i64>,
    pub dilations: Vec<i64>,
    pub group: i64,
    pub auto_pad: AutoPad,
    /// ConvInteger instead of QLinearConv.
    pub integer: bool,
    pub x_dt: DType,
    pub y_dt: DType,
    pub x_zp: i64,
    pub y_zp: i64,
    pub per_channel: bool,
    pub bias: bool,
    /// Weights `u8` with zero point 128 (symmetric) instead of `i8`.
    pub u8_weight: bool,
}

pub fn conv(x: &[usize], w: &[usize]) -> QConv {
    QConv {
        x: x.to_vec(),
        w: w.to_vec(),
        strides: vec![],
        pads: vec![],
        dilations: vec![],
        group: 1,
        auto_pad: AutoPad::NotSet,
        integer: false,
        x_dt: DType::U8,
        y_dt: DType::U8,
        x_zp: 3,
        y_zp: 130,
        per_channel: true,
        bias: true,
        u8_weight: false,
    }
}

impl QConv {
    pub fn op(&self) -> Op {
        let (strides, pads, dilations, group, auto_pad) = (
            self.strides.clone(),
            self.pads.clone(),
            self.dilations.clone(),
            self.group,
            self.auto_pad,
        );
        if self.integer {
            Op::ConvInteger {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            }
        } else {
            Op::QLinearConv {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            }
        }
    }

    /// The operands: random activations and weights; scales chosen so the
    /// outputs spread over the type's range instead of saturating.
    pub fn operands(&self, seed: u64) -> Vec<Tensor> {
        let m = self.w[0];
        let depth: usize = self.w[1..].iter().product();
        let x = q_tensor(self.x_dt, &self.x, seed);
        let (w, w_zp) = if self.u8_weight {
            // Symmetric u8: values 1..=255 about 128 (w - 128 in -127..=127).
            let v: Vec<i64> = bytes(m * depth, seed + 1)
                .iter()
                .map(|&b| b.max(1) as i64)
                .collect();
            let zp = if self.per_channel {
                ints(DType::U8, &[m], &vec![128; m])
            } else {
                scalar(DType::U8, 128.0)
            };
            (ints(DType::U8, &self.w, &v), zp)
        } else {
            let zp = if self.per_channel {
                ints(DType::I8, &[m], &vec![0; m])
            } else {
                scalar(DType::I8, 0.0)
            };
            (q_tensor(DType::I8, &self.w, seed + 1), zp)
        };
        let x_zp = scalar(self.x_dt, self.x_zp as f64);
        if self.integer {
            return vec![x, w, x_zp, w_zp];
        }
        let sw = if self.per_channel {
            let v: Vec<f32> = (0..m).map(|c| 0.002 + 0.001 * (c % 5) as f32).collect();
            Tensor::from_vec(&[m], v).unwrap()
        } else {
            scalar(DType::F32, 0.004)
        };
        let sy = 0.02 * 0.004 * 130.0 * (depth as f64).sqrt();
        let mut ops = vec![
            x,
            scalar(DType::F32, 0.02),
            x_zp,
            w,
            sw,
            w_zp,
            scalar(DType::F32, sy),
            scalar(self.y_dt, self.y_zp as f64),
        ];
        if self.bias {
            let b: Vec<i32> = bytes(m, seed + 2)
                .iter()
                .map(|&v| (v as i32 - 128) * 61)
                .collect();
            ops.push(Tensor::from_vec(&[m], b).unwrap());
        }
        ops
    }

    pub fn check(&self, seed: u64) -> String {
        let ops = self.operands(seed);
        let refs: Vec<&Tensor> = ops.iter().collect();
        check(&self.op(), &refs, &format!("{self:?} seed {seed}"))
    }
}

/// A quantized matmul case: `a [.., M, K]` at run time, constant `b [K, N]`.
#[derive(Clone, Debug)]
pub struct QMat {
    pub a: Vec<usize>,
    pub n: usize,
    pub integer: bool,
    pub a_dt: DType,
    pub y_dt: DType,
    pub a_zp: i64,
    pub y_zp: i64,
    pub per_column: bool,
}

pub fn mat(a: &[usize], n: usize) -> QMat {
    QMat {
        a: a.to_vec(),
        n,
        integer: false,
        a_dt: DType::U8,
        y_dt: DType::U8,
        a_zp: 7,
        y_zp: 120,
        per_column: true,
    }
}

impl QMat {
    pub fn op(&self) -> Op {
        if self.integer {
            Op::MatMulInteger
        } else {
            Op::QLinearMatMul
        }
    }

    pub fn operands(&self, seed: u64) -> Vec<Tensor> {
        let (k, n) = (*self.a.last().unwrap(), self.n);
        let a = q_tensor(self.a_dt, &self.a, seed);
        let b = q_tensor(DType::I8, &[k, n], seed + 1);
        let a_zp = scalar(self.a_dt, self.a_zp as f64);
        let b_zp = if self.per_column {
            ints(DType::I8, &[n], &vec![0; n])
        } else {
            scalar(DType::I8, 0.0)
        };
        if self.integer {
            return vec![a, b, a_zp, b_zp];
        }
        let sb = if self.per_column {
            let v: Vec<f32> = (0..n).map(|j| 0.002 + 0.0005 * (j % 7) as f32).collect();
            Tensor::from_vec(&[n], v).unwrap()
        } else {
            scalar(DType::F32, 0.003)
        };
        let sy = 0.05 * 0.003 * 130.0 * (k.max(1) as f64).sqrt();
        vec![
            a,
            scalar(DType::F32, 0.05),
            a_zp,
            b,
            sb,
            b_zp,
            scalar(DType::F32, sy),
            scalar(self.y_dt, self.y_zp as f64),
        ]
    }

    pub fn check(&self, seed: u64) -> String {
        let ops = self.operands(seed);
        let refs: Vec<&Tensor> = ops.iter().collect();
        check(&self.op(), &refs, &format!("{self:?} seed {seed}"))
    }
}

/// A `qlinear_global_average_pool` case: x at run time, constant
/// parameters.
#[derive(Clone, Debug)]
pub struct QGap {
    pub x: Vec<usize>,
    pub channels_last: bool,
    pub x_dt: DType,
    pub y_dt: DType,
    pub x_zp: i64,
    pub y_zp: i64,
    /// y's scale as a multiple of the spread of random planes' means
    /// (1: they cover most of y's range; small: most saturate).
    pub y_scale: f64,
    /// Use `y_scale` as y's scale itself.
    pub y_scale_exact: bool,
}

pub fn gap(x: &[usize]) -> QGap {
    QGap {
        x: x.to_vec(),
        channels_last: false,
        x_dt: DType::U8,
        y_dt: DType::U8,
        x_zp: 128,
        y_zp: 120,
        y_scale: 1.0,
        y_scale_exact: false,
    }
}

impl QGap {
    pub fn op(&self) -> Op {
        Op::QLinearGlobalAveragePool {
            channels_last: self.channels_last,
        }
    }

    pub fn operands(&self, seed: u64) -> Vec<Tensor> {
        let r = self.x.len();
        let spatial = if self.channels_last {
            &self.x[1..r - 1]
        } else {
            &self.x[2..]
        };
        let count = spatial.iter().product::<usize>().max(1) as f64;
        // The mean of `count` uniform bytes deviates by about 74/√count;
        // 1/40 of that (in x's units of 0.05) puts it near 40 steps of y.
        let sy = if self.y_scale_exact {
            self.y_scale
        } else {
            self.y_scale * 0.05 * 74.0 / count.sqrt() / 40.0
        };
        vec![
            q_tensor(self.x_dt, &self.x, seed),
            scalar(DType::F32, 0.05),
            scalar(self.x_dt, self.x_zp as f64),
            scalar(DType::F32, sy),
            scalar(self.y_dt, self.y_zp as f64),
        ]
    }

    pub fn check(&self, seed: u64) -> String {
        let ops = self.operands(seed);
        let refs: Vec<&Tensor> = ops.iter().collect();
        check(&self.op(), &refs, &format!("{self:?} seed {seed}"))
    }
}
