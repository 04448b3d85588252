//! Random graphs for property tests.
//!
//! Two families, by what they promise:
//! - **Syntax graphs** ([`arb_syntax_graph`]): any op with attributes of the
//!   right kinds, random dtypes, static/symbolic/unknown dims, names that need
//!   quoting, locations, constants (some large enough to print by reference),
//!   zero to three results per node, nested `if`/`loop` subgraphs. Types are
//!   random, so the graphs are *not* well typed: they exercise the text format,
//!   not the verifier. Values are numbered in definition order (inputs first),
//!   so printing is a fixed point.
//! - **Typed graphs** (`arb_typed_graph`, to come): well-typed graphs for the
//!   passes' property tests; they will reuse [`Rng`], [`arb_dim`] and the
//!   attribute schema below.
//!
//! The generators draw the bulk of a graph from a seeded [`Rng`] and let
//! proptest choose the seed and the sizes, so shrinking makes graphs smaller.
//! The attribute schema ([`op_schemas`]) is discovered from `Op::from_parts`,
//! so new ops are generated without editing this file; a unit test checks that
//! every op in `Op::NAMES` is covered.

use ingot_ir::{AttrValue, DType, Dim, Graph, Op, Tensor, TensorType, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A small deterministic generator (splitmix64).
#[derive(Clone, Debug)]
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

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

// ---- Attribute schema ------------------------------------------------------

/// What kind of value an attribute holds.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrKind {
    Int,
    Float,
    Bool,
    Ints,
    Floats,
    /// Any string (e.g. einsum's equation).
    Str,
    /// One of these strings.
    Enum(Vec<String>),
    DType,
    Tensor,
    Graph,
}

/// An op's name and attributes: `(name, kind, optional)`.
#[derive(Clone, Debug)]
pub struct OpSchema {
    pub name: &'static str,
    pub attrs: Vec<(String, AttrKind, bool)>,
}

/// Optional attributes: `from_parts` accepts their absence, so probing cannot
/// see them; they are listed here.
const OPTIONAL: &[(&str, &str, AttrKind)] = &[
    ("shape", "end", AttrKind::Int),
    ("compress", "axis", AttrKind::Int),
    ("eye_like", "dtype", AttrKind::DType),
    ("unique", "axis", AttrKind::Int),
];

fn kind_from_expected(e: &str) -> Option<AttrKind> {
    Some(match e {
        "int" => AttrKind::Int,
        "float" => AttrKind::Float,
        "bool" => AttrKind::Bool,
        "int list" => AttrKind::Ints,
        "float list" => AttrKind::Floats,
        "string" => AttrKind::Str,
        "dtype" => AttrKind::DType,
        "tensor" => AttrKind::Tensor,
        "graph" => AttrKind::Graph,
        e => {
            let opts: Vec<String> = e
                .strip_prefix("one of ")?
                .split('"')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            AttrKind::Enum(opts)
        }
    })
}

/// A fixed, valid value of each kind (used while probing).
fn sample(kind: &AttrKind) -> AttrValue {
    match kind {
        AttrKind::Int => AttrValue::Int(0),
        AttrKind::Float => AttrValue::Float(0.0),
        AttrKind::Bool => AttrValue::Bool(false),
        AttrKind::Ints => AttrValue::Ints(vec![]),
        AttrKind::Floats => AttrValue::Floats(vec![]),
        AttrKind::Str => AttrValue::Str(String::new()),
        AttrKind::Enum(o) => AttrValue::Str(o[0].clone()),
        AttrKind::DType => AttrValue::DType(DType::F32),
        AttrKind::Tensor => AttrValue::Tensor(Tensor::scalar(0.0f32)),
        AttrKind::Graph => AttrValue::Graph(Box::default()),
    }
}

/// Discover an op's required attributes from `from_parts`'s "missing
/// attribute" errors (`attribute `x` of `op`: missing attribute (expected K)`).
fn probe(name: &'static str) -> OpSchema {
    let mut attrs = vec![];
    let mut given = BTreeMap::new();
    loop {
        match Op::from_parts(name, given.clone()) {
            Ok(_) => break,
            Err(e) => {
                let parsed = (|| {
                    let field = e.strip_prefix("attribute `")?.split('`').next()?;
                    let exp = e.split("(expected ").nth(1)?.strip_suffix(')')?;
                    Some((field.to_string(), kind_from_expected(exp)?))
                })();
                let (field, kind) = parsed.unwrap_or_else(|| {
                    panic!("gen.rs cannot read `{name}`'s attribute error {e:?}; update probe()")
                });
                given.insert(field.clone(), sample(&kind));
                attrs.push((field, kind, false));
            }
        }
    }
    for (op, field, kind) in OPTIONAL {
        if *op == name {
            attrs.push((field.to_string(), kind.clone(), true));
        }
    }
    OpSchema { name, attrs }
}

/// Every op's attribute schema, in `Op::NAMES` order.
pub fn op_schemas() -> &'static [OpSchema] {
    static S: OnceLock<Vec<OpSchema>> = OnceLock::new();
    S.get_or_init(|| Op::NAMES.iter().map(|n| probe(n)).collect())
}

// ---- Leaves --------------------------------------------------------------------

/// Names that print bare and names that need quotes.
const NAMES: &[&str] = &[
    "x",
    "y",
    "w0",
    "_t",
    "batch",
    "onnx::Add_3",
    "a b",
    "q\"uote",
    "back\\slash",
    "new\nline",
    "tab\there",
    "ünï",
    "floor",
    "ceil",
    "x.1",
    "1abc",
    "-",
    "graph",
    "return",
    "nan",
    "%",
    "@",
    ";",
    "{}",
    // Collide with the printer's weight labels (`c<index>`, `<graph>_c<index>`).
    "c1",
    "c2",
    "c3",
    "c4",
    "g_c1",
    "c1_1",
];

const DIM_VARS: &[&str] = &["batch", "seq", "h", "n", "my dim", "floor", "a.b", "é"];

/// A value or graph name: from a list of awkward ones, or random.
pub fn random_name(r: &mut Rng) -> String {
    if r.one_in(2) {
        return r.pick(NAMES).to_string();
    }
    let chars: Vec<char> = "abcxyz_019 .:\"\\\n\tü%@;".chars().collect();
    let n = 1 + r.below(8);
    let mut s: String = (0..n).map(|_| *r.pick(&chars)).collect();
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.push('v');
    }
    s
}

/// A random string for attributes and locations (may be empty).
pub fn random_string(r: &mut Rng) -> String {
    let chars: Vec<char> = "ab,->ij \"\\\n\t\r😀;%".chars().collect();
    (0..r.below(10)).map(|_| *r.pick(&chars)).collect()
}

/// A static, symbolic or unknown dim.
pub fn random_dim(r: &mut Rng, depth: u32) -> Dim {
    match r.below(if depth == 0 { 4 } else { 8 }) {
        0 | 1 => Dim::Known(r.below(20) as i64),
        2 => Dim::var(r.pick::<&str>(DIM_VARS)),
        3 => match r.below(4) {
            0 => Dim::Unknown,
            1 => Dim::Known(-(r.below(5) as i64) - 1),
            2 => Dim::Known(i64::MAX - r.below(3) as i64),
            _ => Dim::Known(783),
        },
        k => {
            let a = random_dim(r, depth - 1);
            let b = random_dim(r, depth - 1);
            let d = Dim::Known(2 + r.below(4) as i64);
            match k {
                4 => a.add(&b),
                5 => a.sub(&b).mul(&b),
                6 => a.floor_div(&d),
                _ => a.add(&b).ceil_div(&d),
            }
        }
    }
}

pub fn random_type(r: &mut Rng) -> TensorType {
    let dtype = *r.pick(&DType::ALL);
    let rank = r.below(5);
    TensorType::new(dtype, (0..rank).map(|_| random_dim(r, 2)))
}

/// A float that is never NaN: random bits, or a special value.
pub fn random_f64(r: &mut Rng) -> f64 {
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        1e-7,
        16777217.0,
    ];
    if r.one_in(3) {
        return *r.pick(&specials);
    }
    let x = f64::from_bits(r.next_u64());
    if x.is_nan() {
        0.25
    } else {
        x
    }
}

/// A small random tensor with no NaNs; sometimes more than 16 elements (so
/// the default printer writes it by reference).
pub fn random_tensor(r: &mut Rng) -> Tensor {
    let dtype = *r.pick(&DType::ALL);
    let shape: Vec<usize> = if r.one_in(4) {
        vec![3, 7]
    } else {
        (0..r.below(3)).map(|_| r.below(4)).collect()
    };
    let n: usize = shape.iter().product();
    let mut bytes = Vec::with_capacity(n * dtype.size());
    for _ in 0..n {
        let bits = r.next_u64();
        match dtype {
            DType::F32 => bytes.extend((random_f64(r) as f32).to_le_bytes()),
            DType::F64 => bytes.extend(random_f64(r).to_le_bytes()),
            DType::F16 => {
                let h = ingot_ir::half::f16::from_bits(bits as u16);
                let h = if h.is_nan() {
                    ingot_ir::half::f16::ONE
                } else {
                    h
                };
                bytes.extend(h.to_le_bytes());
            }
            DType::BF16 => {
                let h = ingot_ir::half::bf16::from_bits(bits as u16);
                let h = if h.is_nan() {
                    ingot_ir::half::bf16::ONE
                } else {
                    h
                };
                bytes.extend(h.to_le_bytes());
            }
            DType::Bool => bytes.push((bits & 1) as u8),
            _ => bytes.extend(&bits.to_le_bytes()[..dtype.size()]),
        }
    }
    Tensor::from_bytes(dtype, &shape, &bytes).expect("byte count matches the shape")
}

fn random_int(r: &mut Rng) -> i64 {
    match r.below(4) {
        0 => r.next_u64() as i64,
        1 => *r.pick(&[i64::MIN, i64::MAX, -1, 0]),
        _ => r.below(9) as i64 - 3,
    }
}

fn random_attr(r: &mut Rng, kind: &AttrKind, depth: u32) -> AttrValue {
    match kind {
        AttrKind::Int => AttrValue::Int(random_int(r)),
        AttrKind::Float => AttrValue::Float(random_f64(r) as f32),
        AttrKind::Bool => AttrValue::Bool(r.one_in(2)),
        AttrKind::Ints => AttrValue::Ints((0..r.below(5)).map(|_| random_int(r)).collect()),
        AttrKind::Floats => {
            AttrValue::Floats((0..r.below(4)).map(|_| random_f64(r) as f32).collect())
        }
        AttrKind::Str => AttrValue::Str(random_string(r)),
        AttrKind::Enum(opts) => AttrValue::Str(r.pick(opts).clone()),
        AttrKind::DType => AttrValue::DType(*r.pick(&DType::ALL)),
        AttrKind::Tensor => AttrValue::Tensor(random_tensor(r)),
        AttrKind::Graph => {
            let nodes = if depth == 0 { 0 } else { r.below(4) };
            let inputs = r.below(3);
            AttrValue::Graph(Box::new(syntax_graph(
                r,
                inputs,
                nodes,
                depth.saturating_sub(1),
            )))
        }
    }
}

/// A random op (any op, attributes of the right kinds; `depth` bounds
/// subgraph nesting).
pub fn random_op(r: &mut Rng, depth: u32) -> Op {
    let s = r.pick(op_schemas());
    let mut attrs = BTreeMap::new();
    for (field, kind, optional) in &s.attrs {
        if !*optional || r.one_in(2) {
            attrs.insert(field.clone(), random_attr(r, kind, depth));
        }
    }
    Op::from_parts(s.name, attrs)
        .unwrap_or_else(|e| panic!("generator built bad attributes for `{}`: {e}", s.name))
}

// ---- Syntax graphs -----------------------------------------------------------------

fn name_value(g: &mut Graph, r: &mut Rng, v: Value) {
    let name = random_name(r);
    if g.value_named(&name).is_none() {
        g.set_name(v, &name).expect("fresh, non-numeric name");
    }
}

/// A graph of `inputs` inputs and `nodes` nodes (see the module docs).
pub fn syntax_graph(r: &mut Rng, inputs: usize, nodes: usize, depth: u32) -> Graph {
    let mut g = Graph::new(if r.one_in(3) {
        random_name(r)
    } else {
        "g".to_string()
    });
    let mut defined = vec![];
    for i in 0..inputs {
        let mut name = random_name(r);
        if g.value_named(&name).is_some() {
            name = format!("{name}_{i}");
        }
        let ty = random_type(r);
        defined.push(g.add_input(&name, ty).expect("unique input name"));
    }
    for _ in 0..nodes {
        let n = if r.one_in(4) {
            let t = random_tensor(r);
            // Mostly the short form; sometimes a result type that differs from
            // the tensor's, which prints in the general form.
            let ty = if r.one_in(8) { random_type(r) } else { t.ty() };
            g.push_node(Op::constant(t), vec![], vec![ty])
        } else {
            let op = random_op(r, depth);
            let operands = if defined.is_empty() {
                vec![]
            } else {
                (0..r.below(4)).map(|_| *r.pick(&defined)).collect()
            };
            let results = match r.below(8) {
                0 => 0,
                1 | 2 => 2 + r.below(2),
                _ => 1,
            };
            let types = (0..results).map(|_| random_type(r)).collect();
            g.push_node(op, operands, types)
        };
        if r.one_in(4) {
            g.set_loc(n, Some(random_string(r)));
        }
        for v in g.node(n).outputs.clone() {
            if r.one_in(2) {
                name_value(&mut g, r, v);
            }
            defined.push(v);
        }
    }
    let outputs = if defined.is_empty() {
        vec![]
    } else {
        (0..r.below(4)).map(|_| *r.pick(&defined)).collect()
    };
    g.set_outputs(outputs);
    g
}

/// Any-syntax graphs: up to 4 inputs, 12 nodes, subgraphs two levels deep.
pub fn arb_syntax_graph() -> impl Strategy<Value = Graph> {
    (any::<u64>(), 0usize..=4, 0usize..=12)
        .prop_map(|(seed, inputs, nodes)| syntax_graph(&mut Rng::new(seed), inputs, nodes, 2))
}

/// A random dim (static, symbolic or unknown), as a strategy.
pub fn arb_dim() -> impl Strategy<Value = Dim> {
    any::<u64>().prop_map(|s| random_dim(&mut Rng::new(s), 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_covers_every_op_and_attribute_kind() {
        let s = op_schemas();
        assert_eq!(s.len(), Op::NAMES.len());
        let conv = s.iter().find(|o| o.name == "conv").unwrap();
        assert_eq!(conv.attrs.len(), 5);
        let pad = s.iter().find(|o| o.name == "pad").unwrap();
        assert!(matches!(&pad.attrs[0].1, AttrKind::Enum(o) if o.contains(&"reflect".to_string())));
        let kinds: Vec<&AttrKind> = s
            .iter()
            .flat_map(|o| o.attrs.iter().map(|a| &a.1))
            .collect();
        for k in [
            AttrKind::Int,
            AttrKind::Float,
            AttrKind::Bool,
            AttrKind::Ints,
            AttrKind::Str,
            AttrKind::DType,
            AttrKind::Tensor,
            AttrKind::Graph,
        ] {
            assert!(kinds.contains(&&k), "no attribute of kind {k:?}");
        }
        // Every optional attribute named in OPTIONAL is really accepted.
        let mut r = Rng::new(1);
        for _ in 0..2000 {
            random_op(&mut r, 1);
        }
    }

    #[test]
    fn generated_graphs_are_varied() {
        let mut r = Rng::new(7);
        let mut ops = std::collections::HashSet::new();
        let (mut subgraphs, mut multi) = (0, 0);
        for _ in 0..200 {
            let g = syntax_graph(&mut r, 3, 10, 2);
            for &n in g.order() {
                let nd = g.node(n);
                ops.insert(nd.op.name());
                subgraphs += nd.op.subgraphs().len();
                multi += usize::from(nd.outputs.len() > 1);
            }
        }
        assert!(
            ops.len() > Op::NAMES.len() * 3 / 4,
            "only {} ops",
            ops.len()
        );
        assert!(
            subgraphs > 10 && multi > 100,
            "{subgraphs} subgraphs, {multi} multi-result"
        );
    }
}
