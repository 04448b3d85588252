//! Tests for the recurrent ops' semantics.
//!
//! The recurrent-layer expectations come from an independent numpy model of
//! ONNX's equations (onnxruntime's `sequence_lens` handling), run in f64 on
//! f64 operands so that the interpreter's per-step rounding is exact; the
//! tolerance covers f32 attributes (alpha 0.3 is not exactly 0.3).

use super::eval;
use crate::op::Op;
use crate::tensor::Tensor;

fn f64s(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

fn close(got: &Tensor, want: &[f64], what: &str) {
    let g = got.to_f64s();
    assert_eq!(g.len(), want.len(), "{what}: length");
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-7, "{what}[{i}]: {a} vs {b}");
    }
}

fn run(op: &Op, ins: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let refs: Vec<&Tensor> = ins.iter().collect();
    eval(op, &refs)
}

// lstm_bi
const LSTM_BI_X: &[f64] = &[
    -0.85, 0.56, -0.12, 0.45, 0.96, 0.08, 0.0, -0.86, -0.46, -0.0, 0.36, 0.61,
];
const LSTM_BI_W: &[f64] = &[
    -0.24, -0.87, -0.42, 0.82, -0.57, -0.1, 0.86, -0.95, 0.2, 0.9, -0.54, 0.1, 0.82, -0.73, 0.05,
    0.5, 0.34, -0.06, -0.59, -0.02, -0.26, -0.05, -0.27, 0.68, 0.54, -0.37, 0.15, -0.45, -0.09,
    -0.29, 0.31, -0.26,
];
const LSTM_BI_R: &[f64] = &[
    -0.08, 0.44, -0.17, 0.81, -0.64, 0.48, -0.16, -0.15, 0.27, 0.05, -0.17, -1.0, -0.82, 0.42,
    0.05, 0.39, 0.91, 0.37, -0.89, -0.38, 0.19, -0.53, 0.93, 0.89, 0.7, -0.06, 0.68, -0.74, -0.38,
    -0.07, 0.48, -0.03,
];
const LSTM_BI_B: &[f64] = &[
    -0.73, -0.31, -0.35, -0.4, -0.67, -0.17, -0.1, 0.55, 0.59, 0.04, -0.08, 0.56, 0.77, 0.35, 0.6,
    0.88, -0.92, 0.75, -0.45, -0.05, 0.59, 0.43, -0.71, 0.32, -0.86, -0.29, 0.63, -0.14, 0.2, 0.46,
    0.64, 0.52,
];
const LSTM_BI_H0: &[f64] = &[-0.99, -0.16, -0.07, -0.89, 0.08, 0.22, 0.66, 0.88];
const LSTM_BI_C0: &[f64] = &[-0.74, -0.54, 0.32, -0.74, -0.55, 0.15, -0.66, 0.56];
const LSTM_BI_P: &[f64] = &[
    0.71, -0.93, 0.07, 0.59, 0.95, -0.45, -0.66, 0.75, 0.82, -0.6, -0.12, 0.44,
];
const LSTM_BI_Y: &[f64] = &[
    -0.074800256251265,
    0.011767240176864925,
    0.02160557319430962,
    -0.0462594489427047,
    -0.08455131275236545,
    0.34568382756327815,
    -0.17354894130254359,
    0.45029447059761196,
    0.012961972796382535,
    0.08701530584404628,
    0.0,
    0.0,
    -0.10415953378682993,
    0.21946848381261663,
    0.0,
    0.0,
    0.03290869985374528,
    0.0899401894318719,
    0.0,
    0.0,
    -0.16855411473472426,
    0.24473033299993546,
    0.0,
    0.0,
];
const LSTM_BI_YH: &[f64] = &[
    0.03290869985374528,
    0.0899401894318719,
    0.02160557319430962,
    -0.0462594489427047,
    -0.08455131275236545,
    0.34568382756327815,
    -0.17354894130254359,
    0.45029447059761196,
];
const LSTM_BI_YC: &[f64] = &[
    0.10005866967515271,
    0.31037570407966214,
    0.14918169291023842,
    -0.18236675329592678,
    -0.1621641269344236,
    0.8415224248457355,
    -0.5305491486284469,
    0.7798573459333706,
];
// lstm_cifg
const LSTM_CIFG_X: &[f64] = &[0.69, -0.66, 0.33, 0.62, 0.1, -0.67];
const LSTM_CIFG_W: &[f64] = &[
    -0.93, -0.44, 0.62, -0.91, -0.98, -0.28, -0.87, -0.7, -0.95, 0.05, 0.39, -0.15, -0.73, -0.34,
    0.18, 0.88, 0.99, -0.52, -0.98, 0.66, 0.85, -0.08, 0.54, 0.73,
];
const LSTM_CIFG_R: &[f64] = &[
    0.22, 0.75, -0.95, -0.46, -0.45, -0.76, 0.82, -0.94, 0.35, -0.86, -0.28, -0.16, -0.64, 0.04,
    0.07, -0.37,
];
const LSTM_CIFG_B: &[f64] = &[
    0.47, -0.68, -0.61, -0.29, -0.24, -0.59, 0.84, 0.66, -0.79, -0.26, -0.53, -0.1, -0.45, 0.0,
    0.85, -0.23,
];
const LSTM_CIFG_H0: &[f64] = &[0.3, 0.19];
const LSTM_CIFG_C0: &[f64] = &[0.5, -0.88];
const LSTM_CIFG_P: &[f64] = &[0.49, 0.89, 0.21, -0.42, 0.34, 0.42];
const LSTM_CIFG_Y: &[f64] = &[
    0.11012245593326359,
    -0.2840342430336311,
    0.09318143027434063,
    -0.37165984178486045,
];
const LSTM_CIFG_YH: &[f64] = &[0.11012245593326359, -0.2840342430336311];
const LSTM_CIFG_YC: &[f64] = &[0.5362601420230441, -0.632715933886201];
// gru_lbr
const GRU_LBR_X: &[f64] = &[
    0.31, -0.71, 0.95, 0.91, -0.15, 0.19, -0.92, 0.98, 0.64, 0.27, 0.52, -0.62,
];
const GRU_LBR_W: &[f64] = &[
    -0.38, -0.51, 0.19, -0.82, 0.79, -0.08, -0.11, -0.79, 0.37, 0.63, 0.26, -0.52, 0.57, -0.71,
    0.65, 0.16, -0.42, 0.03,
];
const GRU_LBR_R: &[f64] = &[
    0.26, -0.48, 0.69, -0.16, 0.78, 0.67, -0.8, 0.29, -0.38, 0.51, 0.09, -0.08, 0.79, -0.89, 0.11,
    -0.34, -0.93, 0.51, 0.12, 0.79, 0.2, -0.33, 0.97, -0.77, -0.89, 0.47, -0.26,
];
const GRU_LBR_B: &[f64] = &[
    -0.28, 0.75, -0.35, 0.78, 0.29, -0.34, -0.88, -0.51, 0.94, -0.19, -0.68, -0.4, 0.8, -0.67,
    0.56, -0.73, 0.92, 0.06,
];
const GRU_LBR_H0: &[f64] = &[-0.91, 0.86, -0.28, 0.46, 0.05, -0.81];
const GRU_LBR_Y: &[f64] = &[
    -0.26120539304521334,
    0.6773509235578002,
    0.32744234080434503,
    -0.06688868821224946,
    0.9360599040464751,
    -0.10155997931889954,
    -0.16943299850258342,
    0.44137878287378873,
    0.912977995016593,
    -0.17681912554493787,
    0.38897642977683244,
    1.1031748894970095,
    0.0,
    0.0,
    0.0,
    -0.11157321889036563,
    0.32937510836001893,
    0.9082268901090735,
];
const GRU_LBR_YH: &[f64] = &[
    -0.16943299850258342,
    0.44137878287378873,
    0.912977995016593,
    -0.11157321889036563,
    0.32937510836001893,
    0.9082268901090735,
];
// gru_reset
const GRU_RESET_X: &[f64] = &[
    -0.9, -0.22, 0.08, 0.78, 0.65, 0.22, -0.2, 0.67, 0.74, 0.74, 0.44, -0.8,
];
const GRU_RESET_W: &[f64] = &[
    -0.4, -0.03, 0.01, 0.67, -0.52, 0.33, -0.25, 0.55, -0.61, -0.05, -0.79, -0.58, 0.87, -0.37,
    0.79, 0.05, -0.92, 0.59,
];
const GRU_RESET_R: &[f64] = &[
    -0.9, 0.65, -0.98, 0.35, -0.67, -0.31, 0.91, -0.03, 0.31, 0.48, -0.78, 0.68, 0.83, -0.69, 0.09,
    -0.43, 0.48, -0.94, 0.03, 0.59, 0.47, -0.78, 0.67, -0.52, 0.62, -0.01, -0.68,
];
const GRU_RESET_B: &[f64] = &[
    0.47, 0.62, 0.4, 0.93, -0.49, -0.53, -0.71, 0.08, -0.2, -0.29, -0.08, -0.45, -0.99, -0.06,
    -0.45, -0.1, 0.86, -0.64,
];
const GRU_RESET_H0: &[f64] = &[0.27, 0.29, -0.44, -0.06, 0.94, -0.32];
const GRU_RESET_Y: &[f64] = &[
    0.4757781401793158,
    0.7969266727390686,
    0.5923044075227827,
    0.0,
    0.0,
    0.0,
    0.48239437942405705,
    0.9222713533275284,
    0.49022268201649044,
    0.0,
    0.0,
    0.0,
    0.45329227637568376,
    0.7003305977380111,
    0.5486001499041362,
    0.0,
    0.0,
    0.0,
];
const GRU_RESET_YH: &[f64] = &[
    0.4757781401793158,
    0.7969266727390686,
    0.5923044075227827,
    -0.06,
    0.94,
    -0.32,
];
// rnn_bi
const RNN_BI_X: &[f64] = &[
    0.61, -0.03, -0.3, -0.25, 0.96, -0.78, 0.78, 0.72, -0.55, -0.3, 0.14, 0.6,
];
const RNN_BI_W: &[f64] = &[
    0.9, 0.98, -0.44, -0.62, -0.02, 0.12, 0.31, -0.78, 0.29, 0.84, 0.83, 0.89,
];
const RNN_BI_R: &[f64] = &[0.84, 0.92, -0.9, 0.83, -0.46, -0.36, -0.08, 0.91];
const RNN_BI_B: &[f64] = &[0.21, -0.29, -0.25, 0.81, 0.64, -0.72, -0.5, -0.26];
const RNN_BI_H0: &[f64] = &[-0.57, 0.13, -0.55, 0.15, 0.87, 0.7, -0.8, -0.59];
const RNN_BI_Y: &[f64] = &[
    0.3762,
    0.61365,
    0.5974999999999999,
    0.8408500000000001,
    0.0,
    0.0,
    0.0,
    0.0,
    1.495083,
    0.3133747500000001,
    0.669341,
    0.7176777500000001,
    0.0,
    0.3506999999999999,
    0.6922000000000001,
    0.0,
];
const RNN_BI_YH: &[f64] = &[
    1.495083,
    0.3133747500000001,
    0.669341,
    0.7176777500000001,
    0.0,
    0.0,
    0.0,
    0.0,
];

fn lstm(
    direction: &str,
    acts: &str,
    alpha: &[f32],
    beta: &[f32],
    clip: f32,
    input_forget: bool,
) -> Op {
    Op::Lstm {
        direction: direction.into(),
        activations: acts.into(),
        activation_alpha: alpha.to_vec(),
        activation_beta: beta.to_vec(),
        clip,
        layout: 0,
        input_forget,
    }
}

#[test]
fn lstm_bidirectional_peepholes_clip_lengths_activations() {
    let op = lstm(
        "bidirectional",
        "hard_sigmoid,tanh,softsign,sigmoid,elu,tanh",
        &[0.3, 0.0, 0.0, 0.0, 0.5, 0.0],
        &[0.4, 0.0, 0.0, 0.0, 0.0, 0.0],
        0.8,
        false,
    );
    let ins = [
        f64s(&[3, 2, 2], LSTM_BI_X),
        f64s(&[2, 8, 2], LSTM_BI_W),
        f64s(&[2, 8, 2], LSTM_BI_R),
        f64s(&[2, 16], LSTM_BI_B),
        Tensor::from_vec(&[2], vec![3i32, 1]).unwrap(),
        f64s(&[2, 2, 2], LSTM_BI_H0),
        f64s(&[2, 2, 2], LSTM_BI_C0),
        f64s(&[2, 6], LSTM_BI_P),
    ];
    let res = run(&op, &ins).unwrap();
    assert_eq!(res[0].shape(), &[3, 2, 2, 2]);
    close(&res[0], LSTM_BI_Y, "y");
    close(&res[1], LSTM_BI_YH, "y_h");
    close(&res[2], LSTM_BI_YC, "y_c");
    // A length past the sequence is an error, not a read out of bounds.
    let mut bad = ins.clone();
    bad[4] = Tensor::from_vec(&[2], vec![4i32, 1]).unwrap();
    assert!(run(&op, &bad).unwrap_err().contains("seq_lens"));
}

#[test]
fn lstm_reverse_coupled_input_forget() {
    let op = lstm(
        "reverse",
        "sigmoid,tanh,tanh",
        &[],
        &[],
        f32::INFINITY,
        true,
    );
    let ins = [
        f64s(&[2, 1, 3], LSTM_CIFG_X),
        f64s(&[1, 8, 3], LSTM_CIFG_W),
        f64s(&[1, 8, 2], LSTM_CIFG_R),
        f64s(&[1, 16], LSTM_CIFG_B),
        Tensor::zeros(crate::DType::I32, &[0]).unwrap(),
        f64s(&[1, 1, 2], LSTM_CIFG_H0),
        f64s(&[1, 1, 2], LSTM_CIFG_C0),
        f64s(&[1, 6], LSTM_CIFG_P),
    ];
    let res = run(&op, &ins).unwrap();
    close(&res[0], LSTM_CIFG_Y, "y");
    close(&res[1], LSTM_CIFG_YH, "y_h");
    close(&res[2], LSTM_CIFG_YC, "y_c");
}

fn gru(direction: &str, acts: &str, alpha: &[f32], beta: &[f32], clip: f32, lbr: bool) -> Op {
    Op::Gru {
        direction: direction.into(),
        activations: acts.into(),
        activation_alpha: alpha.to_vec(),
        activation_beta: beta.to_vec(),
        clip,
        layout: 0,
        linear_before_reset: lbr,
    }
}

#[test]
fn gru_linear_before_reset_with_lengths() {
    let op = gru(
        "forward",
        "sigmoid,leaky_relu",
        &[0.0, 0.1],
        &[],
        f32::INFINITY,
        true,
    );
    let ins = [
        f64s(&[3, 2, 2], GRU_LBR_X),
        f64s(&[1, 9, 2], GRU_LBR_W),
        f64s(&[1, 9, 3], GRU_LBR_R),
        f64s(&[1, 18], GRU_LBR_B),
        Tensor::from_vec(&[2], vec![2i64, 3]).unwrap(),
        f64s(&[1, 2, 3], GRU_LBR_H0),
    ];
    let res = run(&op, &ins).unwrap();
    assert_eq!(res.len(), 2);
    close(&res[0], GRU_LBR_Y, "y");
    close(&res[1], GRU_LBR_YH, "y_h");
}

#[test]
fn gru_reset_before_product_clip_and_empty_sequence() {
    let op = gru(
        "reverse",
        "scaled_tanh,softplus",
        &[0.7, 0.0],
        &[1.3, 0.0],
        0.5,
        false,
    );
    let ins = [
        f64s(&[3, 2, 2], GRU_RESET_X),
        f64s(&[1, 9, 2], GRU_RESET_W),
        f64s(&[1, 9, 3], GRU_RESET_R),
        f64s(&[1, 18], GRU_RESET_B),
        Tensor::from_vec(&[2], vec![3i32, 0]).unwrap(),
        f64s(&[1, 2, 3], GRU_RESET_H0),
    ];
    let res = run(&op, &ins).unwrap();
    close(&res[0], GRU_RESET_Y, "y");
    close(&res[1], GRU_RESET_YH, "y_h");
    // Length 0: the initial state comes out unchanged.
    assert_eq!(&res[1].to_f64s()[3..6], &GRU_RESET_H0[3..6]);
}

fn rnn_bi(layout: i64) -> Op {
    Op::Rnn {
        direction: "bidirectional".into(),
        activations: "affine,thresholded_relu".into(),
        activation_alpha: vec![0.5, 0.2],
        activation_beta: vec![0.25, 0.0],
        clip: f32::INFINITY,
        layout,
    }
}

/// Swap the first two axes of a row-major `[a, b, rest]` array.
fn swap01(v: &[f64], a: usize, b: usize) -> Vec<f64> {
    let rest = v.len() / (a * b);
    let mut out = vec![0.0; v.len()];
    for i in 0..a {
        for j in 0..b {
            let (src, dst) = ((i * b + j) * rest, (j * a + i) * rest);
            out[dst..dst + rest].copy_from_slice(&v[src..src + rest]);
        }
    }
    out
}

#[test]
fn rnn_bidirectional_both_layouts() {
    let ins = [
        f64s(&[2, 2, 3], RNN_BI_X),
        f64s(&[2, 2, 3], RNN_BI_W),
        f64s(&[2, 2, 2], RNN_BI_R),
        f64s(&[2, 4], RNN_BI_B),
        Tensor::zeros(crate::DType::I64, &[0]).unwrap(),
        f64s(&[2, 2, 2], RNN_BI_H0),
    ];
    let res = run(&rnn_bi(0), &ins).unwrap();
    close(&res[0], RNN_BI_Y, "y");
    close(&res[1], RNN_BI_YH, "y_h");
    // Batch-major: x and the states have their first two axes swapped; Y is
    // [batch, seq, dirs, hidden].
    let mut bm = ins.clone();
    bm[0] = f64s(&[2, 2, 3], &swap01(RNN_BI_X, 2, 2));
    bm[5] = f64s(&[2, 2, 2], &swap01(RNN_BI_H0, 2, 2));
    let res = run(&rnn_bi(1), &bm).unwrap();
    // [seq, dirs, batch, h] → [batch, seq, dirs, h]: batch moves to the front.
    let mut want = vec![0.0; RNN_BI_Y.len()];
    for t in 0..2 {
        for d in 0..2 {
            for n in 0..2 {
                for k in 0..2 {
                    want[((n * 2 + t) * 2 + d) * 2 + k] = RNN_BI_Y[((t * 2 + d) * 2 + n) * 2 + k];
                }
            }
        }
    }
    close(&res[0], &want, "batch-major y");
    close(&res[1], &swap01(RNN_BI_YH, 2, 2), "batch-major y_h");
}

#[test]
fn absent_operands_are_zeros_and_full_length() {
    let op = lstm(
        "forward",
        "sigmoid,tanh,tanh",
        &[],
        &[],
        f32::INFINITY,
        false,
    );
    let x = f64s(&[3, 2, 2], LSTM_BI_X);
    let w = f64s(&[1, 8, 2], &LSTM_BI_W[..16]);
    let r = f64s(&[1, 8, 2], &LSTM_BI_R[..16]);
    let short = run(&op, &[x.clone(), w.clone(), r.clone()]).unwrap();
    let zeros = |s: &[usize]| Tensor::zeros(crate::DType::F64, s).unwrap();
    let full = [
        x,
        w,
        r,
        zeros(&[1, 16]),
        Tensor::from_vec(&[2], vec![3i32, 3]).unwrap(),
        zeros(&[1, 2, 2]),
        zeros(&[1, 2, 2]),
        zeros(&[1, 6]),
    ];
    let long = run(&op, &full).unwrap();
    assert_eq!(short, long);
    assert!(short[0].to_f64s().iter().all(|v| *v != 0.0));
}

#[test]
fn unique_matches_numpy() {
    let x = Tensor::from_vec(
        &[4, 3],
        vec![1.0f32, 0., 1., 2., 2., 2., 1., 0., 1., 0., 5., 0.],
    )
    .unwrap();
    let res = run(
        &Op::Unique {
            axis: Some(0),
            sorted: true,
        },
        std::slice::from_ref(&x),
    )
    .unwrap();
    assert_eq!(res[0].to_f64s(), vec![0., 5., 0., 1., 0., 1., 2., 2., 2.]);
    assert_eq!(res[0].shape(), &[3, 3]);
    assert_eq!(res[1].to_i64s(), vec![3, 0, 1]);
    assert_eq!(res[2].to_i64s(), vec![1, 2, 1, 0]);
    assert_eq!(res[3].to_i64s(), vec![1, 2, 1]);
    // Unsorted: order of first occurrence.
    let res = run(
        &Op::Unique {
            axis: Some(-2),
            sorted: false,
        },
        &[x],
    )
    .unwrap();
    assert_eq!(res[0].to_f64s(), vec![1., 0., 1., 2., 2., 2., 0., 5., 0.]);
    assert_eq!(res[1].to_i64s(), vec![0, 1, 3]);
    assert_eq!(res[2].to_i64s(), vec![0, 1, 0, 2]);
    assert_eq!(res[3].to_i64s(), vec![2, 1, 1]);
    // Flattened, with NaNs (equal to each other, last) and signed zeros.
    let v = Tensor::from_vec(&[7], vec![2.0f32, f32::NAN, -1.0, 2.0, f32::NAN, 0.0, -0.0]).unwrap();
    let res = run(
        &Op::Unique {
            axis: None,
            sorted: true,
        },
        &[v],
    )
    .unwrap();
    let y = res[0].to_f64s();
    assert_eq!(&y[..3], &[-1.0, 0.0, 2.0]);
    assert!(y[3].is_nan() && y.len() == 4);
    assert_eq!(res[1].to_i64s(), vec![2, 5, 0, 1]);
    assert_eq!(res[2].to_i64s(), vec![2, 3, 0, 2, 3, 1, 1]);
    assert_eq!(res[3].to_i64s(), vec![1, 2, 2, 2]);
    // Large integers compare exactly.
    let big = Tensor::from_vec(&[2], vec![i64::MAX, i64::MAX - 1]).unwrap();
    let res = run(
        &Op::Unique {
            axis: None,
            sorted: true,
        },
        &[big],
    )
    .unwrap();
    assert_eq!(res[0].to_i64s(), vec![i64::MAX - 1, i64::MAX]);
}

#[test]
fn cum_prod_modes() {
    let x = Tensor::from_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
    let axis = Tensor::scalar(1i64);
    let cp = |exclusive, reverse| {
        run(
            &Op::CumProd { exclusive, reverse },
            &[x.clone(), axis.clone()],
        )
        .unwrap()[0]
            .to_i64s()
    };
    assert_eq!(cp(false, false), vec![1, 2, 6, 4, 20, 120]);
    assert_eq!(cp(true, false), vec![1, 1, 2, 1, 4, 20]);
    assert_eq!(cp(false, true), vec![6, 6, 3, 120, 30, 6]);
    assert_eq!(cp(true, true), vec![6, 3, 1, 30, 6, 1]);
    let ax0 = Tensor::scalar(-2i32);
    let r = run(
        &Op::CumProd {
            exclusive: false,
            reverse: false,
        },
        &[x.clone(), ax0],
    )
    .unwrap();
    assert_eq!(r[0].to_i64s(), vec![1, 2, 3, 4, 10, 18]);
    // Integer products wrap.
    let big = Tensor::from_vec(&[2], vec![i32::MAX, 2]).unwrap();
    let r = run(
        &Op::CumProd {
            exclusive: false,
            reverse: false,
        },
        &[big, Tensor::scalar(0i64)],
    )
    .unwrap();
    assert_eq!(r[0].to_i64s(), vec![i32::MAX as i64, -2]);
    let bad = Tensor::scalar(2i64);
    assert!(run(
        &Op::CumProd {
            exclusive: false,
            reverse: false
        },
        &[x, bad]
    )
    .is_err());
}

#[test]
fn det_by_lu() {
    // det = 1*(5*10-6*8) - 2*(4*10-6*7) + 3*(4*8-5*7) = 2 + 4 - 9 = -3; then a
    // row swap is needed (zero pivot), and a singular matrix.
    let m = Tensor::from_vec(
        &[3, 3, 3],
        vec![
            1.0f32, 2., 3., 4., 5., 6., 7., 8., 10., //
            0., 1., 0., 1., 0., 0., 0., 0., 2., //
            1., 2., 3., 2., 4., 6., 0., 1., 1.,
        ],
    )
    .unwrap();
    let r = run(&Op::Det, &[m]).unwrap();
    close(&r[0], &[-3.0, -2.0, 0.0], "det");
    let empty = Tensor::zeros(crate::DType::F64, &[2, 0, 0]).unwrap();
    assert_eq!(
        run(&Op::Det, &[empty]).unwrap()[0].to_f64s(),
        vec![1.0, 1.0]
    );
}

#[test]
fn tf_idf_modes() {
    // Pool: unigrams [3], [7]; bigrams [3,7], [7,7] → columns 0, 1, 2, 3.
    let op = |mode: &str, weights: Vec<f32>, min, skip| Op::TfIdfVectorizer {
        mode: mode.into(),
        min_gram_length: min,
        max_gram_length: 2,
        max_skip_count: skip,
        ngram_counts: vec![0, 2],
        ngram_indexes: vec![0, 1, 2, 3],
        pool: vec![3, 7, 3, 7, 7, 7],
        weights,
    };
    let x = Tensor::from_vec(&[5], vec![3i64, 7, 7, 3, 9]).unwrap();
    let y = |o: Op| run(&o, std::slice::from_ref(&x)).unwrap()[0].to_f64s();
    assert_eq!(y(op("TF", vec![], 1, 0)), vec![2.0, 2.0, 1.0, 1.0]);
    // Skip distance 2 adds (3,7) at 0,2 and (7,3)... not pooled; unigrams once.
    assert_eq!(y(op("TF", vec![], 1, 1)), vec![2.0, 2.0, 2.0, 1.0]);
    assert_eq!(y(op("TF", vec![], 2, 1)), vec![0.0, 0.0, 2.0, 1.0]);
    assert_eq!(y(op("IDF", vec![], 2, 0)), vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(
        y(op("IDF", vec![0.5, 1.0, 2.0, 4.0], 1, 0)),
        vec![0.5, 1.0, 2.0, 4.0]
    );
    assert_eq!(
        y(op("TFIDF", vec![0.5, 1.0, 2.0, 4.0], 1, 1)),
        vec![1.0, 2.0, 4.0, 4.0]
    );
    // A pool that does not split into whole n-grams is rejected.
    let mut bad = op("TF", vec![], 1, 0);
    if let Op::TfIdfVectorizer { pool, .. } = &mut bad {
        pool.push(1);
    }
    assert!(run(&bad, std::slice::from_ref(&x)).is_err());
}
