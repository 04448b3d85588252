//! Every available [`Level`] against a plain `i64` product, bit for bit;
//! the epilogue against a scalar model of its formula; and an ignored
//! micro-benchmark (`cargo test -p ingot-runtime --release qgemm_bench --
//! --ignored --nocapture`).

use super::*;

/// A small LCG: deterministic operands without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn bytes<T: Int8>(&mut self, len: usize) -> Vec<T> {
        (0..len)
            .map(|_| {
                let b = self.next() as u8;
                // SAFETY: `T` is `u8` or `i8`.
                unsafe { std::mem::transmute_copy::<u8, T>(&b) }
            })
            .collect()
    }
}

fn levels() -> Vec<Level> {
    Level::ALL.into_iter().filter(|l| l.available()).collect()
}

fn val<T: Int8>(v: T) -> i64 {
    T::widen(bytes(std::slice::from_ref(&v))[0]) as i64
}

/// `sum_p A(i, p) * B(p, j)` in `i64`, `A` at row stride `a_rs`, `B`
/// row-major `k x n`.
fn reference<L: Int8>(
    m: usize,
    n: usize,
    k: usize,
    a: &[L],
    a_rs: usize,
    b: &[L::Other],
) -> Vec<i64> {
    let mut c = vec![0i64; m * n];
    for i in 0..m {
        for p in 0..k {
            let x = val(a[i * a_rs + p]);
            for j in 0..n {
                c[i * n + j] += x * val(b[p * n + j]);
            }
        }
    }
    c
}

/// One case on every level: sums (with and without accumulation) into a
/// destination with padding columns that must stay untouched.
fn check_i32<L: Int8>(m: usize, n: usize, k: usize, a: &[L], a_rs: usize, b: &[L::Other]) {
    let want = reference(m, n, k, a, a_rs, b);
    let packed = PackedRhs::pack(b, k, n, n);
    let rs = n + 3;
    for level in levels() {
        for accumulate in [false, true] {
            let init = |i: usize| {
                if accumulate {
                    (i % 7) as i32 - 3
                } else {
                    12345
                }
            };
            let mut c: Vec<i32> = (0..m * rs).map(init).collect();
            let dst = Dst::I32 {
                c: &mut c,
                rs,
                accumulate,
            };
            qgemm_at(level, m, a, a_rs, &packed, dst);
            for i in 0..m {
                for j in 0..n {
                    let before = if accumulate {
                        init(i * rs + j) as i64
                    } else {
                        0
                    };
                    assert_eq!(
                        c[i * rs + j] as i64,
                        before + want[i * n + j],
                        "{level:?} signed-lhs={} {m}x{n}x{k} acc={accumulate} ({i},{j})",
                        L::SIGNED
                    );
                }
                for j in n..rs {
                    assert_eq!(
                        c[i * rs + j],
                        init(i * rs + j),
                        "{level:?}: padding written"
                    );
                }
            }
        }
    }
}

const DIMS: [usize; 8] = [1, 3, 7, 8, 9, 17, 31, 33];

#[test]
fn every_level_is_exact_on_odd_shapes_weights_left() {
    let mut rng = Rng(1);
    for &m in &DIMS {
        for &n in &DIMS {
            for &k in &[1, 3, 5, 8, 33] {
                let a: Vec<i8> = rng.bytes(m * (k + 2));
                let b: Vec<u8> = rng.bytes(k * n);
                check_i32(m, n, k, &a, k + 2, &b);
            }
        }
    }
}

#[test]
fn every_level_is_exact_on_odd_shapes_weights_right() {
    let mut rng = Rng(2);
    for &m in &DIMS {
        for &n in &DIMS {
            for &k in &[2, 4, 7, 9, 31] {
                let a: Vec<u8> = rng.bytes(m * k);
                let b: Vec<i8> = rng.bytes(k * n);
                check_i32(m, n, k, &a, k, &b);
            }
        }
    }
}

/// Shapes that cross every block boundary: `k > KC` (several depth
/// slices, the last not a multiple of 4), `m > MC`, `n > NC`.
#[test]
fn every_level_is_exact_across_cache_blocks() {
    let mut rng = Rng(3);
    for &(m, n, k) in &[
        (64, 100, 257),
        (100, 64, 1031),
        (257, 40, 7),
        (9, 1100, 33),
        (131, 530, 600),
        (17, 33, 0),
    ] {
        let a: Vec<i8> = rng.bytes(m * k);
        let b: Vec<u8> = rng.bytes(k * n);
        check_i32(m, n, k, &a, k, &b);
        let a: Vec<u8> = rng.bytes(m * k);
        let b: Vec<i8> = rng.bytes(k * n);
        check_i32(m, n, k, &a, k, &b);
    }
}

/// All-255 against all -128 or all 127: `vpmaddubsw` would saturate here.
/// `k = 65536` is the deepest sum that cannot wrap.
#[test]
fn extreme_values_are_exact() {
    for &(m, n, k) in &[(9, 33, 4099), (2, 17, 65536)] {
        for w in [-128i8, 127] {
            check_i32(m, n, k, &vec![w; m * k], k, &vec![255u8; k * n]);
            check_i32(m, n, k, &vec![255u8; m * k], k, &vec![w; k * n]);
        }
    }
}

#[test]
fn pack_into_reuses_and_matches_the_layout() {
    let mut rng = Rng(4);
    let mut packed = PackedRhs::default();
    for &(k, n) in &[(9, 70), (8, 64), (1, 1), (13, 32), (4, 33), (0, 5)] {
        let rs = n + 5;
        let src: Vec<u8> = rng.bytes(k * rs);
        packed.pack_into(&src, k, n, rs);
        assert_eq!((packed.k(), packed.n()), (k, n));
        let data = packed.as_slice();
        assert_eq!(data.len(), n.div_ceil(NR) * k.next_multiple_of(4) * NR);
        for (idx, &v) in data.iter().enumerate() {
            let (panel, rest) = (
                idx / (k.next_multiple_of(4) * NR),
                idx % (k.next_multiple_of(4) * NR),
            );
            let (g, c, q) = (rest / (NR * 4), rest % (NR * 4) / 4, rest % 4);
            let (p, j) = (4 * g + q, panel * NR + c);
            let want = if p < k && j < n { src[p * rs + j] } else { 0 };
            assert_eq!(v, want, "{k}x{n}: byte {idx}");
        }
        assert_eq!(packed, pack_rhs_u8(&src, k, n, rs));
    }
}

/// Packing row by row gives the bytes `pack_into` gives, reusing the
/// buffer across shapes (edge panels, `k` not a multiple of 4, empty).
#[test]
fn pack_rows_into_matches_pack_into() {
    let mut rng = Rng(6);
    let mut packed = PackedRhs::default();
    for &(k, n) in &[
        (9, 70),
        (8, 64),
        (1, 1),
        (13, 32),
        (4, 33),
        (0, 5),
        (5, 0),
        (7, 3),
    ] {
        let src: Vec<i8> = rng.bytes(k * n);
        let mut asked = vec![];
        packed.pack_rows_into(k, n, |p, dst| {
            asked.push(p);
            dst.copy_from_slice(&src[p * n..(p + 1) * n]);
        });
        let want: Vec<usize> = if n == 0 { vec![] } else { (0..k).collect() };
        assert_eq!(asked, want, "{k}x{n}: rows asked");
        assert_eq!(packed, PackedRhs::pack(&src, k, n, n), "{k}x{n}");
    }
}

/// The `i8` destination is the `u8` one's formula with `i8` bounds; the
/// pointer entry writes the same as the slice one.
#[test]
fn i8_output_and_pointer_destination() {
    let mut rng = Rng(7);
    let (m, n, k) = (11, 37, 29);
    let a: Vec<i8> = rng.bytes(m * k);
    let b: Vec<u8> = rng.bytes(k * n);
    let sums = reference(m, n, k, &a, k, &b);
    let packed = PackedRhs::pack(&b, k, n, n);
    let zp: Vec<i32> = (0..m as i32).map(|c| c * 13 - 40).collect();
    let scale: Vec<f32> = (0..m).map(|c| 2e-3 * (1 + c % 3) as f32).collect();
    let rq = Requant {
        zp_corr: &zp,
        scale: &scale,
        bias: &[],
    };
    let rs = n + 1;
    for q in [
        Quantize {
            scale: 0.03,
            zero_point: -3,
            lo: -128,
            hi: 127,
        },
        Quantize {
            scale: 0.01,
            zero_point: 5,
            lo: 5,
            hi: 60,
        },
    ] {
        let f = |i: usize, j: usize| (sums[i * n + j] as i32).wrapping_sub(zp[i]) as f32 * scale[i];
        let model = |f: f32| {
            ((f / q.scale).round_ties_even() as i64 + q.zero_point as i64)
                .clamp(q.lo as i64, q.hi as i64) as i8
        };
        for level in levels() {
            let mut out = vec![99i8; m * rs];
            let dst = Dst::I8 {
                c: &mut out,
                rs,
                rq,
                q,
            };
            qgemm_at(level, m, &a, k, &packed, dst);
            let mut via_ptr = vec![99i8; m * rs];
            // SAFETY: `via_ptr` holds `m` rows of `n` at stride `rs`.
            unsafe {
                qgemm_ptr_at(
                    level,
                    m,
                    &a,
                    k,
                    &packed,
                    DstPtr::I8 {
                        c: via_ptr.as_mut_ptr(),
                        rs,
                        rq,
                        q,
                    },
                )
            };
            assert_eq!(out, via_ptr, "{level:?}");
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(out[i * rs + j], model(f(i, j)), "{level:?} i8 ({i},{j})");
                }
                assert_eq!(out[i * rs + n], 99, "{level:?}: padding written");
            }
        }
    }
}

#[test]
#[should_panic(expected = "quantization bounds")]
fn i8_bounds_outside_the_type_panic() {
    let w = pack_rhs_s8(&[1], 1, 1, 1);
    let mut out = [0i8; 1];
    qgemm(
        1,
        &[1u8],
        1,
        &w,
        Dst::I8 {
            c: &mut out,
            rs: 1,
            rq: Requant {
                zp_corr: &[],
                scale: &[1.0],
                bias: &[],
            },
            q: Quantize {
                scale: 1.0,
                zero_point: 0,
                lo: 0,
                hi: 255,
            },
        },
    );
}

#[test]
fn sums_for_zero_point_corrections() {
    let mut rng = Rng(5);
    let (k, n) = (37, 45);
    let w: Vec<i8> = rng.bytes(k * n);
    let sums = pack_rhs_s8(&w, k, n, n).col_sums();
    for (j, &s) in sums.iter().enumerate() {
        assert_eq!(s, (0..k).map(|p| w[p * n + j] as i32).sum::<i32>());
    }
    let rows = row_sums_s8(&w, k, n - 2, n);
    for (i, &s) in rows.iter().enumerate() {
        assert_eq!(
            s,
            w[i * n..i * n + n - 2]
                .iter()
                .map(|&v| v as i32)
                .sum::<i32>()
        );
    }
}

/// The epilogue's formula, written out: `q = clamp(round_half_even(f /
/// out_scale) + zp, lo, hi)`.
fn model_u8(f: f32, q: Quantize) -> u8 {
    ((f / q.scale).round_ties_even() as i64 + q.zero_point as i64).clamp(q.lo as i64, q.hi as i64)
        as u8
}

fn check_requant<L: Int8>(m: usize, n: usize, k: usize, seed: u64, per_channel: bool) {
    let mut rng = Rng(seed);
    let a: Vec<L> = rng.bytes(m * k);
    let b: Vec<L::Other> = rng.bytes(k * n);
    let sums = reference(m, n, k, &a, k, &b);
    let packed = PackedRhs::pack(&b, k, n, n);
    let ch = if L::SIGNED { m } else { n };
    let len = if per_channel { ch } else { 1 };
    let zp: Vec<i32> = (0..len).map(|c| (c as i32 * 37) % 200 - 100).collect();
    let scale: Vec<f32> = (0..len).map(|c| 1e-3 * (1 + c % 5) as f32).collect();
    let bias: Vec<f32> = (0..len).map(|c| c as f32 * 0.25 - 2.0).collect();
    let rq = Requant {
        zp_corr: &zp,
        scale: &scale,
        bias: &bias,
    };
    let f = |i: usize, j: usize| {
        let c = if per_channel {
            if L::SIGNED {
                i
            } else {
                j
            }
        } else {
            0
        };
        (sums[i * n + j] as i32).wrapping_sub(zp[c]) as f32 * scale[c] + bias[c]
    };
    let rs = n + 2;
    for level in levels() {
        let mut out = vec![-7.0f32; m * rs];
        let dst = Dst::F32 {
            c: &mut out,
            rs,
            rq,
        };
        qgemm_at(level, m, &a, k, &packed, dst);
        for i in 0..m {
            for j in 0..n {
                assert_eq!(
                    out[i * rs + j].to_bits(),
                    f(i, j).to_bits(),
                    "{level:?} f32 ({i},{j})"
                );
            }
            assert_eq!(&out[i * rs + n..(i + 1) * rs], &[-7.0, -7.0]);
        }
        for q in [
            Quantize {
                scale: 0.05,
                zero_point: 128,
                lo: 0,
                hi: 255,
            },
            // A fused ReLU6-like clip on a zero point of 3.
            Quantize {
                scale: 0.02,
                zero_point: 3,
                lo: 3,
                hi: 200,
            },
        ] {
            let mut out = vec![77u8; m * rs];
            let dst = Dst::U8 {
                c: &mut out,
                rs,
                rq,
                q,
            };
            qgemm_at(level, m, &a, k, &packed, dst);
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(
                        out[i * rs + j],
                        model_u8(f(i, j), q),
                        "{level:?} u8 ({i},{j}) f={}",
                        f(i, j)
                    );
                }
                assert_eq!(&out[i * rs + n..(i + 1) * rs], &[77, 77]);
            }
        }
    }
}

#[test]
fn requant_matches_the_scalar_model() {
    // k = 1101 takes two depth slices (552 + 549): the first slice's sums
    // go through the scratch block.
    for &(m, n, k) in &[(7, 45, 19), (33, 9, 1101), (1, 70, 4)] {
        for per_channel in [true, false] {
            check_requant::<i8>(m, n, k, 10 + m as u64, per_channel);
            check_requant::<u8>(m, n, k, 20 + m as u64, per_channel);
        }
    }
}

/// Ties round to even, and `lo`/`hi` clamp, independently of the model:
/// with a single `1 x 1` weight of 1 and `scale = 0.5`, `out_scale = 1`,
/// an activation `x` gives `f = x / 2`.
#[test]
fn quantization_rounds_half_to_even_and_clamps() {
    let xs: Vec<u8> = vec![1, 3, 5, 7, 0, 255, 200];
    // x/2 = 0.5 1.5 2.5 3.5 0 127.5 100, then + zp 10, clamp to 11..=70.
    let want: [u8; 7] = [11, 12, 12, 14, 11, 70, 70];
    let w = pack_rhs_s8(&[1], 1, 1, 1);
    for level in levels() {
        let mut out = [0u8; 7];
        let dst = Dst::U8 {
            c: &mut out,
            rs: 1,
            rq: Requant {
                zp_corr: &[],
                scale: &[0.5],
                bias: &[],
            },
            q: Quantize {
                scale: 1.0,
                zero_point: 10,
                lo: 11,
                hi: 70,
            },
        };
        qgemm_at(level, 7, &xs, 1, &w, dst);
        assert_eq!(out, want, "{level:?}");
        let mut out = [0u8; 7];
        let dst = Dst::U8 {
            c: &mut out,
            rs: 1,
            rq: Requant {
                zp_corr: &[],
                scale: &[0.5],
                bias: &[],
            },
            q: Quantize {
                scale: 1.0,
                zero_point: 0,
                lo: 0,
                hi: 255,
            },
        };
        qgemm_at(level, 7, &xs, 1, &w, dst);
        assert_eq!(out, [0, 2, 2, 4, 0, 128, 100], "{level:?}");
    }
}

/// GOPS (2 m n k / s, best of several runs) per level on convolution and
/// matmul shapes, beside our f32 GEMM on the same shape.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn qgemm_bench() {
    use std::time::Instant;
    fn best(mut f: impl FnMut()) -> f64 {
        f();
        let (mut best, start) = (f64::MAX, Instant::now());
        let mut runs = 0;
        while runs < 3 || (start.elapsed().as_secs_f64() < 0.3 && runs < 50) {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
            runs += 1;
        }
        best
    }
    let mut rng = Rng(9);
    // (m, n, k, weights left?)
    for &(m, n, k, left) in &[
        (64, 3136, 576, true),
        (512, 49, 4608, true),
        (64, 1024, 784, false),
        (64, 1024, 784, true),
    ] {
        let ops = 2.0 * (m * n * k) as f64 / 1e9;
        let mut c = vec![0i32; m * n];
        let mut cu = vec![0u8; m * n];
        let mut cf = vec![0f32; m * n];
        let ch = if left { m } else { n };
        let (zp, sc, bi) = (vec![3i32; ch], vec![1e-3f32; ch], vec![0.5f32; ch]);
        let rq = Requant {
            zp_corr: &zp,
            scale: &sc,
            bias: &bi,
        };
        let q = Quantize {
            scale: 0.05,
            zero_point: 0,
            lo: 0,
            hi: 255,
        };
        let mut line = format!(
            "{m}x{n}x{k} {} (GOPS):",
            if left { "s8·u8" } else { "u8·s8" }
        );
        for level in levels() {
            let (t32, tf32, tu8) = if left {
                let a: Vec<i8> = rng.bytes(m * k);
                let b = pack_rhs_u8(&rng.bytes(k * n), k, n, n);
                (
                    best(|| {
                        qgemm_at(
                            level,
                            m,
                            &a,
                            k,
                            &b,
                            Dst::I32 {
                                c: &mut c,
                                rs: n,
                                accumulate: false,
                            },
                        )
                    }),
                    best(|| {
                        qgemm_at(
                            level,
                            m,
                            &a,
                            k,
                            &b,
                            Dst::F32 {
                                c: &mut cf,
                                rs: n,
                                rq,
                            },
                        )
                    }),
                    best(|| {
                        qgemm_at(
                            level,
                            m,
                            &a,
                            k,
                            &b,
                            Dst::U8 {
                                c: &mut cu,
                                rs: n,
                                rq,
                                q,
                            },
                        )
                    }),
                )
            } else {
                let a: Vec<u8> = rng.bytes(m * k);
                let b = pack_rhs_s8(&rng.bytes(k * n), k, n, n);
                (
                    best(|| {
                        qgemm_at(
                            level,
                            m,
                            &a,
                            k,
                            &b,
                            Dst::I32 {
                                c: &mut c,
                                rs: n,
                                accumulate: false,
                            },
                        )
                    }),
                    best(|| {
                        qgemm_at(
                            level,
                            m,
                            &a,
                            k,
                            &b,
                            Dst::F32 {
                                c: &mut cf,
                                rs: n,
                                rq,
                            },
                        )
                    }),
                    best(|| {
                        qgemm_at(
                            level,
                            m,
                            &a,
                            k,
                            &b,
                            Dst::U8 {
                                c: &mut cu,
                                rs: n,
                                rq,
                                q,
                            },
                        )
                    }),
                )
            };
            line += &format!(
                "\n  {:12} i32 {:6.1}  f32 {:6.1}  u8 {:6.1}",
                level.name(),
                ops / t32,
                ops / tf32,
                ops / tu8
            );
        }
        if crate::kernels::sgemm::available() {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.1).collect();
            let t = best(|| {
                // SAFETY: AVX-512F checked; the buffers hold the shapes.
                unsafe {
                    crate::kernels::sgemm::sgemm(
                        m,
                        n,
                        k,
                        cf.as_mut_ptr(),
                        n,
                        false,
                        (a.as_ptr(), k as isize, 1),
                        (b.as_ptr(), n as isize, 1),
                        1.0,
                    )
                }
            });
            line += &format!("\n  f32 sgemm    {:6.1} GFLOPS", ops / t);
        }
        println!("{line}");
    }
    // Packing im2col'd activations per tile, as a convolution would.
    let (k, n) = (576, 3136);
    let src: Vec<u8> = rng.bytes(k * n);
    let mut p = PackedRhs::default();
    let t = best(|| p.pack_into(&src, k, n, n));
    println!("pack_into {k}x{n} u8: {:.2} GB/s", (k * n) as f64 / t / 1e9);
}
