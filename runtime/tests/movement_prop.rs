//! Property tests: random shapes (ranks 0..5, dims 0..=5 and 17), random
//! permutations, slices, concats and gathers; the native kernel must equal
//! the interpreter byte for byte.

mod movement_support;

use ingot_ir::{DType, Op, Tensor};
use movement_support::{check, i64s, tensor, vec_i64, Cmp};
use proptest::prelude::*;

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=5, Just(17), Just(1)]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..=5)
}

fn dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(vec![DType::F32, DType::F16, DType::I64, DType::U8])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn transpose(s in shape(), dt in dtype(), seed in any::<u64>()) {
        let mut perm: Vec<i64> = (0..s.len() as i64).collect();
        // Fisher-Yates with the seed.
        let mut r = seed;
        for i in (1..perm.len()).rev() {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1);
            perm.swap(i, (r >> 33) as usize % (i + 1));
        }
        check(&Op::Transpose { perm }, &[&tensor(dt, &s, seed)], Cmp::Exact);
    }

    #[test]
    fn slice(
        s in shape().prop_filter("rank ≥ 1", |s| !s.is_empty()),
        dt in dtype(),
        picks in prop::collection::vec((-20i64..20, -20i64..20, prop_oneof![-3i64..=-1, 1i64..=3]), 1..=5),
    ) {
        let r = s.len();
        let n = picks.len().min(r);
        let axes: Vec<i64> = (0..n as i64).map(|a| if a % 2 == 0 { a } else { a - r as i64 }).collect();
        let starts: Vec<i64> = picks[..n].iter().map(|p| p.0).collect();
        let ends: Vec<i64> = picks[..n].iter().map(|p| p.1).collect();
        let steps: Vec<i64> = picks[..n].iter().map(|p| p.2).collect();
        let x = tensor(dt, &s, 1);
        let ops = [vec_i64(&starts), vec_i64(&ends), vec_i64(&axes), vec_i64(&steps)];
        check(&Op::Slice, &[&x, &ops[0], &ops[1], &ops[2], &ops[3]], Cmp::Exact);
    }

    #[test]
    fn concat(
        s in shape().prop_filter("rank ≥ 1", |s| !s.is_empty()),
        lens in prop::collection::vec(dim(), 1..4),
        axis_pick in any::<usize>(),
        dt in dtype(),
    ) {
        let a = axis_pick % s.len();
        let parts: Vec<Tensor> = lens
            .iter()
            .enumerate()
            .map(|(k, &l)| {
                let mut sh = s.clone();
                sh[a] = l;
                tensor(dt, &sh, k as u64)
            })
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let axis = if axis_pick % 2 == 0 { a as i64 } else { a as i64 - s.len() as i64 };
        check(&Op::Concat { axis }, &refs, Cmp::Exact);
    }

    #[test]
    fn gather(
        s in shape().prop_filter("rank ≥ 1", |s| !s.is_empty()),
        ishape in prop::collection::vec(0usize..=3, 0..=2),
        axis_pick in any::<usize>(),
        seed in any::<u64>(),
        dt in dtype(),
    ) {
        let a = axis_pick % s.len();
        let d = s[a] as i64;
        let n: usize = ishape.iter().product();
        prop_assume!(d > 0 || n == 0);
        let mut r = seed;
        let idx: Vec<i64> = (0..n)
            .map(|_| {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((r >> 33) as i64 % (2 * d)) - d
            })
            .collect();
        let x = tensor(dt, &s, seed);
        check(&Op::Gather { axis: a as i64 - s.len() as i64 }, &[&x, &i64s(&ishape, &idx)], Cmp::Exact);
    }
}
