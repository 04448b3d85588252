//! Seeded random inputs for `ingot run`: bind the symbolic dims of a graph's
//! inputs from `--dim NAME=N`, then fill each input deterministically —
//! floats uniform in [-1, 1), integers in [0, 10), booleans fair.
//!
//! Guarantees: the same graph, dims and seed give the same tensors on every
//! machine (SplitMix64, no platform randomness); a missing, unused or bad
//! dim is a [`CliError::User`] naming it; nothing is allocated beyond
//! [`MAX_ELEMENTS`] in total.

use super::CliError;
use ingot_ir::{DType, Dim, Graph, Tensor, TensorType};
use std::collections::{BTreeMap, BTreeSet};

/// The most elements `ingot run` will generate over all inputs (256 MiB of
/// f32): a typo in `--dim` should be an error, not an out-of-memory kill.
pub const MAX_ELEMENTS: usize = 1 << 26;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and well distributed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1), on a 2^-23 grid so every value is exact in f32.
    pub fn float(&mut self) -> f64 {
        (self.next_u64() >> 40) as f64 / (1u64 << 23) as f64 - 1.0
    }
}

/// Parse one `--dim NAME=N`.
pub fn parse_dim(s: &str) -> Result<(String, i64), String> {
    let (name, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=N (e.g. batch=2)"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{s}` has no dim name before `=`"));
    }
    let n: i64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: `{n}` is not a whole number"))?;
    if n < 0 {
        return Err(format!("`{s}`: a dim cannot be negative"));
    }
    Ok((name.to_string(), n))
}

/// A model's inputs: display name (`%x`) and type.
pub type InputSig = Vec<(String, TensorType)>;

/// The inputs of `g`.
pub fn graph_inputs(g: &Graph) -> InputSig {
    g.inputs()
        .iter()
        .map(|&v| {
            let name = g
                .name_of(v)
                .map_or_else(|| v.to_string(), |n| format!("%{n}"));
            (name, g.ty(v).clone())
        })
        .collect()
}

/// Bind the dims given on the command line, checking each is used by an
/// input and given once.
pub fn bind_dims(
    sig: &InputSig,
    dims: &[(String, i64)],
) -> Result<BTreeMap<String, i64>, CliError> {
    let used: BTreeSet<String> = sig
        .iter()
        .flat_map(|(_, t)| t.shape.iter().flat_map(Dim::vars))
        .map(|s| s.to_string())
        .collect();
    let mut env = BTreeMap::new();
    for (name, n) in dims {
        if !used.contains(name) {
            let known = if used.is_empty() {
                "it has none".to_string()
            } else {
                used.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(CliError::user(
                format!("--dim {name}={n}: the graph's inputs have no symbolic dim `{name}`"),
                format!("symbolic dims of the inputs: {known}"),
            ));
        }
        if env.insert(name.clone(), *n).is_some() {
            return Err(CliError::user(
                format!("--dim {name} is given twice"),
                "give each symbolic dim once",
            ));
        }
    }
    Ok(env)
}

/// The concrete shape of input `name: ty` under `env`.
fn input_shape(
    name: &str,
    ty: &TensorType,
    env: &BTreeMap<String, i64>,
) -> Result<Vec<usize>, CliError> {
    ty.shape
        .iter()
        .map(|d| {
            if let Some(n) = d.eval(&|s| env.get(s).copied()) {
                return usize::try_from(n).map_err(|_| {
                    CliError::user(
                        format!("input {name}: {ty}: dim `{d}` evaluates to {n}"),
                        "choose --dim values that make every dim >= 0",
                    )
                });
            }
            if let Some(missing) = d.vars().into_iter().find(|s| !env.contains_key(&**s)) {
                return Err(CliError::user(
                    format!("input {name}: {ty} has symbolic dim `{missing}` with no value"),
                    format!("bind it with --dim {missing}=N"),
                ));
            }
            Err(CliError::user(
                format!("input {name}: {ty} has a dim `{d}` that cannot be computed"),
                "give the input a static or symbolic shape instead of `?`",
            ))
        })
        .collect()
}

/// One random tensor per graph input, in order.
pub fn make_inputs(
    sig: &InputSig,
    env: &BTreeMap<String, i64>,
    seed: u64,
) -> Result<Vec<Tensor>, CliError> {
    let shapes = sig
        .iter()
        .map(|(name, ty)| input_shape(name, ty, env))
        .collect::<Result<Vec<_>, _>>()?;
    let total = shapes.iter().try_fold(0usize, |acc, s| {
        s.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| acc.checked_add(n))
    });
    if total.is_none_or(|t| t > MAX_ELEMENTS) {
        return Err(CliError::user(
            format!("the inputs would have more than {MAX_ELEMENTS} elements"),
            "use smaller --dim values",
        ));
    }
    let mut rng = Rng::new(seed);
    sig.iter()
        .zip(&shapes)
        .map(|((_, ty), shape)| {
            let dtype = ty.dtype;
            let n: usize = shape.iter().product();
            let t = match dtype {
                DType::Bool => {
                    let b: Vec<bool> = (0..n).map(|_| rng.next_u64() >> 63 == 1).collect();
                    Tensor::from_bools(shape, &b)
                }
                d if d.is_float() => {
                    let f: Vec<f64> = (0..n).map(|_| rng.float()).collect();
                    Tensor::from_f64s(d, shape, &f)
                }
                d => {
                    let i: Vec<i64> = (0..n).map(|_| (rng.next_u64() % 10) as i64).collect();
                    Tensor::from_i64s(d, shape, &i)
                }
            };
            t.map_err(|e| CliError::Internal(format!("building a random input: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> Graph {
        let mut g = Graph::new("f");
        let b = Dim::var("batch");
        g.add_input("x", TensorType::new(DType::F32, [b.clone(), 3.into()]))
            .unwrap();
        g.add_input("i", TensorType::new(DType::I64, [b.add(&Dim::Known(1))]))
            .unwrap();
        g.add_input("m", TensorType::fixed(DType::Bool, &[4]))
            .unwrap();
        g
    }

    #[test]
    fn dims_parse_and_bind() {
        assert_eq!(parse_dim("batch=2"), Ok(("batch".into(), 2)));
        assert!(parse_dim("batch").unwrap_err().contains("NAME=N"));
        assert!(parse_dim("batch=-1").is_err());
        assert!(parse_dim("=3").is_err());
        let g = graph();
        let env = bind_dims(&graph_inputs(&g), &[("batch".into(), 2)]).unwrap();
        let e = bind_dims(&graph_inputs(&g), &[("seq".into(), 2)]).unwrap_err();
        assert!(
            e.to_string().contains("`seq`") && e.to_string().contains("batch"),
            "{e}"
        );
        let e = make_inputs(&graph_inputs(&g), &BTreeMap::new(), 0).unwrap_err();
        assert!(e.to_string().contains("--dim batch=N"), "{e}");
        let ins = make_inputs(&graph_inputs(&g), &env, 7).unwrap();
        assert_eq!(ins[0].shape(), &[2, 3]);
        assert_eq!(ins[1].shape(), &[3]);
        assert_eq!(ins[2].dtype(), DType::Bool);
        assert!(ins[0].to_f64s().iter().all(|&v| (-1.0..1.0).contains(&v)));
        assert!(ins[1].to_i64s().iter().all(|&v| (0..10).contains(&v)));
        // Deterministic per seed, different across seeds.
        assert_eq!(ins, make_inputs(&graph_inputs(&g), &env, 7).unwrap());
        assert_ne!(ins[0], make_inputs(&graph_inputs(&g), &env, 8).unwrap()[0]);
    }

    #[test]
    fn huge_dims_are_user_errors() {
        let g = graph();
        let env = bind_dims(&graph_inputs(&g), &[("batch".into(), i64::MAX / 2)]).unwrap();
        let e = make_inputs(&graph_inputs(&g), &env, 0).unwrap_err();
        assert!(matches!(e, CliError::User { .. }), "{e}");
    }
}
