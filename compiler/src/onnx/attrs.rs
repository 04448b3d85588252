//! Typed access to a node's ONNX attributes, with defaults.
//!
//! ONNX attributes carry their kind in `type` (IR ≥ 3 always sets it); we
//! read the field the type names and report a wrong kind as an error naming
//! the attribute, never a panic.

use super::proto::attribute_proto::AttributeType;
use super::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};

/// The attributes of one node.
pub(crate) struct Attrs<'a> {
    list: &'a [AttributeProto],
}

impl<'a> Attrs<'a> {
    pub fn of(node: &'a NodeProto) -> Attrs<'a> {
        Attrs {
            list: &node.attribute,
        }
    }

    pub fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.list.iter().find(|a| a.name.as_deref() == Some(name))
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn kind(a: &AttributeProto) -> Option<AttributeType> {
        a.r#type.and_then(|t| AttributeType::try_from(t).ok())
    }

    fn wrong(name: &str, want: &str, a: &AttributeProto) -> String {
        let got = Self::kind(a).map_or("unknown", |k| k.as_str_name());
        format!("attribute `{name}` should be {want}, found {got}")
    }

    pub fn int_opt(&self, name: &str) -> Result<Option<i64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match (Self::kind(a), a.i) {
                (Some(AttributeType::Int) | None, Some(i)) => Ok(Some(i)),
                (Some(AttributeType::Int), None) => Ok(Some(0)),
                _ => Err(Self::wrong(name, "an int", a)),
            },
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.int_opt(name)?.unwrap_or(default))
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        Ok(self.int_opt(name)?.map_or(default, |i| i != 0))
    }

    pub fn float_opt(&self, name: &str) -> Result<Option<f32>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match Self::kind(a) {
                Some(AttributeType::Float) => Ok(Some(a.f.unwrap_or(0.0))),
                // Some exporters write integral floats as ints.
                Some(AttributeType::Int) => Ok(Some(a.i.unwrap_or(0) as f32)),
                None if a.f.is_some() => Ok(a.f),
                _ => Err(Self::wrong(name, "a float", a)),
            },
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        Ok(self.float_opt(name)?.unwrap_or(default))
    }

    pub fn ints_opt(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match Self::kind(a) {
                Some(AttributeType::Ints) | None => Ok(Some(a.ints.clone())),
                _ => Err(Self::wrong(name, "an int list", a)),
            },
        }
    }

    pub fn ints(&self, name: &str) -> Result<Vec<i64>, String> {
        Ok(self.ints_opt(name)?.unwrap_or_default())
    }

    pub fn floats_opt(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match Self::kind(a) {
                Some(AttributeType::Floats) | None => Ok(Some(a.floats.clone())),
                _ => Err(Self::wrong(name, "a float list", a)),
            },
        }
    }

    pub fn string_opt(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match Self::kind(a) {
                Some(AttributeType::String) | None => {
                    let s = a.s.as_deref().unwrap_or_default();
                    String::from_utf8(s.to_vec())
                        .map(Some)
                        .map_err(|_| format!("attribute `{name}` is not UTF-8"))
                }
                _ => Err(Self::wrong(name, "a string", a)),
            },
        }
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        Ok(self
            .string_opt(name)?
            .unwrap_or_else(|| default.to_string()))
    }

    pub fn tensor_opt(&self, name: &str) -> Result<Option<&'a TensorProto>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => match (Self::kind(a), &a.t) {
                (Some(AttributeType::Tensor) | None, Some(t)) => Ok(Some(t)),
                _ => Err(Self::wrong(name, "a tensor", a)),
            },
        }
    }

    pub fn graph(&self, name: &str) -> Result<&'a GraphProto, String> {
        match self.get(name) {
            None => Err(format!("missing attribute `{name}`")),
            Some(a) => match (Self::kind(a), &a.g) {
                (Some(AttributeType::Graph) | None, Some(g)) => Ok(g),
                _ => Err(Self::wrong(name, "a graph", a)),
            },
        }
    }
}

/// Every subgraph a node carries (If branches, Loop/Scan bodies), for scans
/// over the whole model.
pub(crate) fn subgraphs(node: &NodeProto) -> impl Iterator<Item = &GraphProto> {
    node.attribute
        .iter()
        .flat_map(|a| a.g.iter().chain(a.graphs.iter()))
}
