//! serde for the IR types that artifacts store inside a compiled plan.
//!
//! - [`Graph`]: its IR text with every tensor written inline. The parser is
//!   built for untrusted text (never panics, bounded recursion, allocates
//!   only what the text justifies), so a hostile artifact cannot do more
//!   than fail to parse.
//! - [`Op`]: its name and attributes, rebuilt through [`Op::from_parts`],
//!   which checks every attribute's kind.
//! - [`Tensor`]: dtype, shape and little-endian bytes; the byte count must
//!   match the shape.
//!
//! Large weights do not go through serde: artifacts keep them in their own
//! aligned sections (see `docs/artifact.md`).

use crate::attr::AttrValue;
use crate::dtype::DType;
use crate::graph::Graph;
use crate::op::Op;
use crate::tensor::Tensor;
use crate::text::{parse, Printer};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Printer {
            inline_limit: usize::MAX,
        }
        .print(self)
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Graph {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Graph, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(|e| D::Error::custom(format!("graph text: {e}")))
    }
}

impl Serialize for Tensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.dtype(), self.shape(), self.bytes()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Tensor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tensor, D::Error> {
        let (dtype, shape, bytes) = <(DType, Vec<usize>, Vec<u8>)>::deserialize(d)?;
        Tensor::from_bytes(dtype, &shape, &bytes).map_err(|e| D::Error::custom(e.to_string()))
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let attrs: BTreeMap<&str, AttrValue> = self.attrs().into_iter().collect();
        (self.name(), attrs).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let (name, attrs) = <(String, BTreeMap<String, AttrValue>)>::deserialize(d)?;
        Op::from_parts(&name, attrs).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(v: &T) -> T {
        let json = serde_json::to_string(v).expect("serializes");
        serde_json::from_str(&json).expect("deserializes")
    }

    #[test]
    fn ops_graphs_and_tensors_round_trip() {
        let g = parse(concat!(
            "graph @g(%x: f32[2,3]) -> f32[2,3] {\n",
            "  %c = const f32[3] [1.0, -2.5, 3e-8]\n",
            "  %a = add %x, %c : f32[2,3]\n",
            "  %y = relu %a : f32[2,3]\n",
            "  return %y\n",
            "}\n"
        ))
        .expect("parses");
        assert_eq!(round_trip(&g), g);
        for &n in g.order() {
            let op = &g.node(n).op;
            assert_eq!(&round_trip(op), op);
        }
        let t = Tensor::from_slice(&[2, 2], &[1i64, -2, 3, i64::MAX]).expect("tensor");
        let back = round_trip(&t);
        assert_eq!(
            (back.dtype(), back.shape(), back.bytes()),
            (t.dtype(), t.shape(), t.bytes())
        );
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert!(serde_json::from_str::<Op>(r#"["no_such_op",{}]"#).is_err());
        assert!(serde_json::from_str::<Op>(r#"["relu",{"axis":{"Int":1}}]"#).is_err());
        assert!(serde_json::from_str::<Tensor>(r#"["F32",[2],[0,0,0]]"#).is_err());
        assert!(serde_json::from_str::<Graph>(r#""graph g( -> {""#).is_err());
    }
}
