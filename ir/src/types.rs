//! Tensor types: an element type and a shape of [`Dim`]s.

use crate::dim::Dim;
use crate::dtype::DType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A shape: one [`Dim`] per axis; empty for a scalar.
pub type Shape = Vec<Dim>;

/// The type of an SSA value. Prints as `f32[batch,784]`; a scalar is `f32[]`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Shape,
}

impl TensorType {
    pub fn new(dtype: DType, shape: impl IntoIterator<Item = Dim>) -> TensorType {
        TensorType {
            dtype,
            shape: shape.into_iter().collect(),
        }
    }

    /// A type whose dims are all static.
    pub fn fixed(dtype: DType, dims: &[usize]) -> TensorType {
        TensorType::new(dtype, dims.iter().map(|&d| Dim::from(d)))
    }

    pub fn scalar(dtype: DType) -> TensorType {
        TensorType::new(dtype, [])
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The static dims, if every dim is known.
    pub fn known_dims(&self) -> Option<Vec<usize>> {
        self.shape
            .iter()
            .map(|d| d.as_known().and_then(|v| usize::try_from(v).ok()))
            .collect()
    }

    /// Number of elements, if static.
    pub fn known_numel(&self) -> Option<usize> {
        self.known_dims()?
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// Number of elements as a (possibly symbolic) dim.
    pub fn numel(&self) -> Dim {
        self.shape.iter().fold(Dim::Known(1), |a, d| a.mul(d))
    }

    pub fn with_dtype(&self, dtype: DType) -> TensorType {
        TensorType {
            dtype,
            shape: self.shape.clone(),
        }
    }

    pub fn with_shape(&self, shape: Shape) -> TensorType {
        TensorType {
            dtype: self.dtype,
            shape,
        }
    }
}

/// Writes `[d0,d1,...]`.
pub fn write_shape(f: &mut dyn fmt::Write, shape: &[Dim]) -> fmt::Result {
    f.write_char('[')?;
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{d}")?;
    }
    f.write_char(']')
}

/// A shape printed as `[d0,d1,...]`.
pub struct ShapeDisplay<'a>(pub &'a [Dim]);

impl fmt::Display for ShapeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_shape(f, self.0)
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dtype)?;
        write_shape(f, &self.shape)
    }
}

impl fmt::Debug for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
