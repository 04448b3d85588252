//! Concrete tensors: the values the interpreter computes and the weights a
//! graph holds.
//!
//! Storage is a shared, immutable, 64-byte aligned byte buffer (`Arc`), so a
//! weight used by many nodes, or copied between graphs by a pass, is never
//! duplicated. Typed views go through `bytemuck` and check the element type.
//! Booleans are one byte each, 0 or 1 (other bytes read as `true`).

use crate::dtype::DType;
use crate::types::TensorType;
use half::{bf16, f16};
use std::fmt;
use std::sync::Arc;

/// A scalar type that a tensor can be viewed as.
pub trait Elem: bytemuck::Pod + PartialOrd + Send + Sync + fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    /// Rounds to nearest for floats; saturates (NaN → 0) for integers, as Rust's `as`.
    fn from_f64(v: f64) -> Self;
    /// Truncates toward zero for floats (saturating); exact for integers.
    fn to_i64(self) -> i64;
    /// Wraps (two's complement) for integers; nearest for floats.
    fn from_i64(v: i64) -> Self;
}

macro_rules! int_elem {
    ($t:ty, $d:ident) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_i64(v: i64) -> Self {
                v as $t
            }
        }
    };
}
int_elem!(i8, I8);
int_elem!(u8, U8);
int_elem!(i16, I16);
int_elem!(i32, I32);
int_elem!(i64, I64);

impl Elem for f32 {
    const DTYPE: DType = DType::F32;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
}
impl Elem for f64 {
    const DTYPE: DType = DType::F64;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v as f64
    }
}
impl Elem for f16 {
    const DTYPE: DType = DType::F16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64(v: i64) -> Self {
        f16::from_f64(v as f64)
    }
}
impl Elem for bf16 {
    const DTYPE: DType = DType::BF16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64(v: i64) -> Self {
        bf16::from_f64(v as f64)
    }
}

/// Calls `$body` with the type alias `$T` bound to the Rust type of a numeric
/// dtype (Bool is read as `u8`). Use for code generic over element types:
/// `with_dtype!(t.dtype(), T, { t.as_slice::<T>()... })`.
#[macro_export]
macro_rules! with_dtype {
    ($dt:expr, $T:ident, $body:block) => {
        match $dt {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 | $crate::DType::Bool => {
                type $T = u8;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
        }
    };
}

#[repr(C, align(64))]
#[derive(Copy, Clone)]
struct Line([u8; 64]);

/// Bytes owned elsewhere that a tensor may view without copying (a
/// memory-mapped artifact's weights).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync + std::panic::RefUnwindSafe>;

/// A 64-byte aligned, immutable byte buffer: owned lines, or a window of
/// shared bytes (`ext`, offset).
struct Storage {
    lines: Vec<Line>,
    len: usize,
    ext: Option<(SharedBytes, usize)>,
}

impl Storage {
    /// Zeroed storage; `None` if the allocator refuses (never aborts).
    fn try_zeroed(len: usize) -> Option<Storage> {
        let n = len.div_ceil(64);
        let mut lines = Vec::new();
        lines.try_reserve_exact(n).ok()?;
        lines.resize(n, Line([0; 64]));
        Some(Storage {
            lines,
            len,
            ext: None,
        })
    }
    fn zeroed(len: usize) -> Storage {
        Storage::try_zeroed(len).expect("allocation of a tensor the same size as an existing one")
    }
    fn bytes(&self) -> &[u8] {
        match &self.ext {
            Some((owner, off)) => &(**owner).as_ref()[*off..*off + self.len],
            None => &bytemuck::cast_slice::<Line, u8>(self.lines_pod())[..self.len],
        }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut bytemuck::cast_slice_mut::<Line, u8>(self.lines_pod_mut())[..len]
    }
    fn lines_pod(&self) -> &[Line] {
        &self.lines
    }
    fn lines_pod_mut(&mut self) -> &mut [Line] {
        &mut self.lines
    }
}

// SAFETY: `Line` is a plain byte array with no padding (size 64, align 64).
unsafe impl bytemuck::Zeroable for Line {}
unsafe impl bytemuck::Pod for Line {}

/// A dense, row-major tensor with static dims and shared immutable storage.
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Arc<Storage>,
}

/// Why a tensor could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    #[error("tensor of shape {shape:?} has {expected} elements but {given} were given")]
    Length {
        shape: Vec<usize>,
        expected: usize,
        given: usize,
    },
    #[error("tensor of shape {0:?} is too large to address")]
    TooLarge(Vec<usize>),
    #[error("tensor holds {holds} but was read as {asked}")]
    DType { holds: DType, asked: DType },
}

fn numel_of(shape: &[usize]) -> Result<usize, TensorError> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| TensorError::TooLarge(shape.to_vec()))
}

impl Tensor {
    /// A tensor of zeros (false for bool).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor, TensorError> {
        let n = numel_of(shape)?;
        let bytes = n
            .checked_mul(dtype.size())
            .filter(|&b| b <= isize::MAX as usize / 2)
            .ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        let storage =
            Storage::try_zeroed(bytes).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data: Arc::new(storage),
        })
    }

    /// A tensor from raw little-endian bytes (as stored in ONNX `raw_data`).
    pub fn from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, TensorError> {
        let n = numel_of(shape)?;
        if n.checked_mul(dtype.size()) != Some(bytes.len()) {
            return Err(TensorError::Length {
                shape: shape.to_vec(),
                expected: n,
                given: bytes.len() / dtype.size(),
            });
        }
        let mut t = Tensor::zeros(dtype, shape)?;
        t.bytes_mut().copy_from_slice(bytes);
        Ok(t)
    }

    /// A tensor viewing `len` bytes of `owner` at `offset` without copying
    /// them (copied instead when they are not 64-byte aligned). Writing to
    /// it copies first, as for any shared tensor.
    pub fn from_shared(
        dtype: DType,
        shape: &[usize],
        owner: SharedBytes,
        offset: usize,
    ) -> Result<Tensor, TensorError> {
        let n = numel_of(shape)?;
        let all = (*owner).as_ref();
        let len = n.checked_mul(dtype.size());
        let Some(bytes) = len.and_then(|l| all.get(offset..offset.checked_add(l)?)) else {
            return Err(TensorError::Length {
                shape: shape.to_vec(),
                expected: n,
                given: all.len().saturating_sub(offset) / dtype.size().max(1),
            });
        };
        if !(bytes.as_ptr() as usize).is_multiple_of(64) {
            return Tensor::from_bytes(dtype, shape, bytes);
        }
        let len = bytes.len();
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data: Arc::new(Storage {
                lines: Vec::new(),
                len,
                ext: Some((owner, offset)),
            }),
        })
    }

    /// A tensor from typed elements.
    pub fn from_vec<T: Elem>(shape: &[usize], data: Vec<T>) -> Result<Tensor, TensorError> {
        Tensor::from_slice(shape, &data)
    }

    pub fn from_slice<T: Elem>(shape: &[usize], data: &[T]) -> Result<Tensor, TensorError> {
        let n = numel_of(shape)?;
        if n != data.len() {
            return Err(TensorError::Length {
                shape: shape.to_vec(),
                expected: n,
                given: data.len(),
            });
        }
        Tensor::from_bytes(T::DTYPE, shape, bytemuck::cast_slice(data))
    }

    pub fn from_bools(shape: &[usize], data: &[bool]) -> Result<Tensor, TensorError> {
        let bytes: Vec<u8> = data.iter().map(|&b| u8::from(b)).collect();
        let n = numel_of(shape)?;
        if n != data.len() {
            return Err(TensorError::Length {
                shape: shape.to_vec(),
                expected: n,
                given: data.len(),
            });
        }
        Tensor::from_bytes(DType::Bool, shape, &bytes)
    }

    /// A scalar (rank 0) tensor.
    pub fn scalar<T: Elem>(v: T) -> Tensor {
        Tensor::from_slice(&[], &[v]).expect("one element for a scalar")
    }

    /// A tensor of `dtype` from f64 values, converted as [`Elem::from_f64`]
    /// (bool: nonzero is true).
    pub fn from_f64s(dtype: DType, shape: &[usize], vals: &[f64]) -> Result<Tensor, TensorError> {
        if dtype == DType::Bool {
            let b: Vec<bool> = vals.iter().map(|&v| v != 0.0).collect();
            return Tensor::from_bools(shape, &b);
        }
        with_dtype!(dtype, T, {
            let v: Vec<T> = vals.iter().map(|&x| T::from_f64(x)).collect();
            Tensor::from_vec(shape, v)
        })
    }

    /// A tensor of `dtype` from i64 values, converted as [`Elem::from_i64`]
    /// (bool: nonzero is true).
    pub fn from_i64s(dtype: DType, shape: &[usize], vals: &[i64]) -> Result<Tensor, TensorError> {
        if dtype == DType::Bool {
            let b: Vec<bool> = vals.iter().map(|&v| v != 0).collect();
            return Tensor::from_bools(shape, &b);
        }
        with_dtype!(dtype, T, {
            let v: Vec<T> = vals.iter().map(|&x| T::from_i64(x)).collect();
            Tensor::from_vec(shape, v)
        })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The static type of this tensor.
    pub fn ty(&self) -> TensorType {
        TensorType::fixed(self.dtype, &self.shape)
    }

    /// The raw bytes, little-endian, row-major.
    pub fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// Mutable bytes; copies the storage first if it is shared.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        if Arc::get_mut(&mut self.data).is_none() || self.data.ext.is_some() {
            let mut fresh = Storage::zeroed(self.data.len);
            fresh.bytes_mut().copy_from_slice(self.data.bytes());
            self.data = Arc::new(fresh);
        }
        Arc::get_mut(&mut self.data)
            .expect("storage is unique after copy")
            .bytes_mut()
    }

    /// A typed view. Bool tensors may be viewed as `u8`.
    pub fn as_slice<T: Elem>(&self) -> Result<&[T], TensorError> {
        if T::DTYPE != self.dtype && !(T::DTYPE == DType::U8 && self.dtype == DType::Bool) {
            return Err(TensorError::DType {
                holds: self.dtype,
                asked: T::DTYPE,
            });
        }
        Ok(bytemuck::cast_slice(self.bytes()))
    }

    /// A typed mutable view (copy-on-write). Bool tensors may be viewed as `u8`.
    pub fn as_mut_slice<T: Elem>(&mut self) -> Result<&mut [T], TensorError> {
        if T::DTYPE != self.dtype && !(T::DTYPE == DType::U8 && self.dtype == DType::Bool) {
            return Err(TensorError::DType {
                holds: self.dtype,
                asked: T::DTYPE,
            });
        }
        Ok(bytemuck::cast_slice_mut(self.bytes_mut()))
    }

    /// Every element converted to f64 (bool as 0/1).
    pub fn to_f64s(&self) -> Vec<f64> {
        if self.dtype == DType::Bool {
            return self
                .bytes()
                .iter()
                .map(|&b| f64::from(u8::from(b != 0)))
                .collect();
        }
        with_dtype!(self.dtype, T, {
            self.as_slice::<T>()
                .expect("dtype matches")
                .iter()
                .map(|&v| v.to_f64())
                .collect()
        })
    }

    /// Every element converted to i64 (floats truncate toward zero; bool as 0/1).
    pub fn to_i64s(&self) -> Vec<i64> {
        if self.dtype == DType::Bool {
            return self.bytes().iter().map(|&b| i64::from(b != 0)).collect();
        }
        with_dtype!(self.dtype, T, {
            self.as_slice::<T>()
                .expect("dtype matches")
                .iter()
                .map(|&v| v.to_i64())
                .collect()
        })
    }

    /// Every element as a bool (nonzero is true).
    pub fn to_bools(&self) -> Vec<bool> {
        if self.dtype == DType::Bool {
            return self.bytes().iter().map(|&b| b != 0).collect();
        }
        self.to_f64s().into_iter().map(|v| v != 0.0).collect()
    }

    /// The same data with another shape of equal element count.
    pub fn reshaped(&self, shape: &[usize]) -> Result<Tensor, TensorError> {
        let n = numel_of(shape)?;
        if n != self.numel() {
            return Err(TensorError::Length {
                shape: shape.to_vec(),
                expected: n,
                given: self.numel(),
            });
        }
        Ok(Tensor {
            dtype: self.dtype,
            shape: shape.to_vec(),
            data: self.data.clone(),
        })
    }

    /// Whether two tensors share storage (no copy was made).
    pub fn shares_storage(&self, o: &Tensor) -> bool {
        Arc::ptr_eq(&self.data, &o.data)
    }
}

impl PartialEq for Tensor {
    /// Same dtype, shape and bytes (so NaNs with equal bits are equal).
    fn eq(&self, o: &Tensor) -> bool {
        self.dtype == o.dtype && self.shape == o.shape && self.bytes() == o.bytes()
    }
}

impl Eq for Tensor {}

impl std::hash::Hash for Tensor {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.dtype.hash(h);
        self.shape.hash(h);
        self.bytes().hash(h);
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape)?;
        let vals = self.to_f64s();
        let shown = vals.len().min(8);
        write!(f, " {:?}", &vals[..shown])?;
        if vals.len() > shown {
            write!(f, "...")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_views_check_dtype_and_alignment() {
        let t = Tensor::from_vec(&[2, 3], vec![1.0f32, 2., 3., 4., 5., 6.]).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap()[4], 5.0);
        assert!(t.as_slice::<i32>().is_err());
        assert_eq!(t.bytes().as_ptr() as usize % 64, 0);
        let r = t.reshaped(&[3, 2]).unwrap();
        assert!(r.shares_storage(&t));
        assert!(t.reshaped(&[4]).is_err());
    }

    #[test]
    fn copy_on_write() {
        let a = Tensor::from_vec(&[2], vec![1i64, 2]).unwrap();
        let mut b = a.clone();
        b.as_mut_slice::<i64>().unwrap()[0] = 7;
        assert_eq!(a.to_i64s(), vec![1, 2]);
        assert_eq!(b.to_i64s(), vec![7, 2]);
    }

    #[test]
    fn huge_shapes_are_errors() {
        assert!(Tensor::zeros(DType::F32, &[usize::MAX, 2]).is_err());
        assert!(Tensor::zeros(DType::F32, &[1 << 62]).is_err());
        let e = Tensor::zeros(DType::F32, &[0, 5]).unwrap();
        assert_eq!(e.numel(), 0);
    }
}
