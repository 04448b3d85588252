//! `TensorProto` → [`Tensor`]: element types, raw and typed data fields, and
//! external data.
//!
//! Every size is checked before allocation: the declared element count must
//! match the number of elements the file actually holds (raw bytes, typed
//! fields, or the external file's range), so a tensor claiming gigabytes in a
//! tiny file is rejected without allocating. Data is little-endian as ONNX
//! specifies; 16-bit floats in `int32_data` are bit patterns.

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::TensorProto;
use super::{external, OnnxError};
use ingot_ir::half::{bf16, f16};
use ingot_ir::{DType, Tensor};
use std::path::Path;

/// The IR dtype of an ONNX `TensorProto.DataType` code, or an
/// [`OnnxError::UnsupportedType`] naming it.
pub fn dtype_of(code: i32) -> Result<DType, OnnxError> {
    let dt = DataType::try_from(code)
        .map_err(|_| OnnxError::UnsupportedType(format!("unknown ONNX element type {code}")))?;
    Ok(match dt {
        DataType::Float => DType::F32,
        DataType::Float16 => DType::F16,
        DataType::Bfloat16 => DType::BF16,
        DataType::Double => DType::F64,
        DataType::Int8 => DType::I8,
        DataType::Uint8 => DType::U8,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Bool => DType::Bool,
        other => {
            return Err(OnnxError::UnsupportedType(format!(
                "element type {}",
                other.as_str_name()
            )))
        }
    })
}

/// The ONNX `DataType` code of an IR dtype.
pub fn code_of(dt: DType) -> i32 {
    (match dt {
        DType::F32 => DataType::Float,
        DType::F16 => DataType::Float16,
        DType::BF16 => DataType::Bfloat16,
        DType::F64 => DataType::Double,
        DType::I8 => DataType::Int8,
        DType::U8 => DataType::Uint8,
        DType::I16 => DataType::Int16,
        DType::I32 => DataType::Int32,
        DType::I64 => DataType::Int64,
        DType::Bool => DataType::Bool,
    }) as i32
}

/// Decode a tensor. `base_dir` is where external data lives (`None`: external
/// data is an error).
pub fn tensor_from_proto(t: &TensorProto, base_dir: Option<&Path>) -> Result<Tensor, OnnxError> {
    let name = t.name.clone().unwrap_or_default();
    let err = |msg: String| OnnxError::Tensor {
        name: name.clone(),
        msg,
    };
    if t.segment.is_some() {
        return Err(err("segmented tensors are not supported".into()));
    }
    let dtype = dtype_of(t.data_type.unwrap_or(0)).map_err(|e| match e {
        OnnxError::UnsupportedType(m) => {
            OnnxError::UnsupportedType(format!("tensor `{name}`: {m}"))
        }
        e => e,
    })?;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        shape.push(usize::try_from(d).map_err(|_| err(format!("negative dim {d}")))?);
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(format!("shape {shape:?} is too large")))?;
    let nbytes = numel
        .checked_mul(dtype.size())
        .ok_or_else(|| err(format!("shape {shape:?} is too large")))?;
    let bad = |e: ingot_ir::TensorError| err(e.to_string());

    if t.data_location == Some(DataLocation::External as i32) {
        let bytes = external::read(t, &name, base_dir, nbytes)?;
        return Tensor::from_bytes(dtype, &shape, &bytes).map_err(bad);
    }
    if let Some(raw) = &t.raw_data {
        if raw.len() != nbytes {
            return Err(err(format!(
                "shape {shape:?} of {dtype} needs {nbytes} bytes but raw_data holds {}",
                raw.len()
            )));
        }
        return Tensor::from_bytes(dtype, &shape, raw).map_err(bad);
    }
    // Typed fields: check the count first, then convert.
    let count = |given: usize| {
        if given != numel {
            Err(err(format!(
                "shape {shape:?} has {numel} elements but the typed data holds {given}"
            )))
        } else {
            Ok(())
        }
    };
    match dtype {
        DType::F32 => {
            count(t.float_data.len())?;
            Tensor::from_slice(&shape, &t.float_data).map_err(bad)
        }
        DType::F64 => {
            count(t.double_data.len())?;
            Tensor::from_slice(&shape, &t.double_data).map_err(bad)
        }
        DType::I64 => {
            count(t.int64_data.len())?;
            Tensor::from_slice(&shape, &t.int64_data).map_err(bad)
        }
        DType::I32 => {
            count(t.int32_data.len())?;
            Tensor::from_slice(&shape, &t.int32_data).map_err(bad)
        }
        DType::I16 => {
            count(t.int32_data.len())?;
            let v: Vec<i16> = t.int32_data.iter().map(|&x| x as i16).collect();
            Tensor::from_vec(&shape, v).map_err(bad)
        }
        DType::I8 => {
            count(t.int32_data.len())?;
            let v: Vec<i8> = t.int32_data.iter().map(|&x| x as i8).collect();
            Tensor::from_vec(&shape, v).map_err(bad)
        }
        DType::U8 => {
            count(t.int32_data.len())?;
            let v: Vec<u8> = t.int32_data.iter().map(|&x| x as u8).collect();
            Tensor::from_vec(&shape, v).map_err(bad)
        }
        DType::Bool => {
            count(t.int32_data.len())?;
            let v: Vec<bool> = t.int32_data.iter().map(|&x| x != 0).collect();
            Tensor::from_bools(&shape, &v).map_err(bad)
        }
        DType::F16 => {
            count(t.int32_data.len())?;
            let v: Vec<f16> = t
                .int32_data
                .iter()
                .map(|&x| f16::from_bits(x as u16))
                .collect();
            Tensor::from_vec(&shape, v).map_err(bad)
        }
        DType::BF16 => {
            count(t.int32_data.len())?;
            let v: Vec<bf16> = t
                .int32_data
                .iter()
                .map(|&x| bf16::from_bits(x as u16))
                .collect();
            Tensor::from_vec(&shape, v).map_err(bad)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(dt: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: Some("t".into()),
            data_type: Some(dt as i32),
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn raw_and_typed_fields() {
        let mut p = proto(DataType::Float, &[2]);
        p.raw_data = Some([1.5f32.to_le_bytes(), (-2f32).to_le_bytes()].concat());
        let t = tensor_from_proto(&p, None).unwrap();
        assert_eq!(t.to_f64s(), vec![1.5, -2.0]);

        let mut p = proto(DataType::Float16, &[2]);
        p.int32_data = vec![
            i32::from(f16::from_f32(0.5).to_bits()),
            i32::from(f16::from_f32(-3.0).to_bits()),
        ];
        let t = tensor_from_proto(&p, None).unwrap();
        assert_eq!((t.dtype(), t.to_f64s()), (DType::F16, vec![0.5, -3.0]));

        let mut p = proto(DataType::Bool, &[3]);
        p.int32_data = vec![1, 0, 1];
        assert_eq!(
            tensor_from_proto(&p, None).unwrap().to_bools(),
            vec![true, false, true]
        );

        let mut p = proto(DataType::Int64, &[]);
        p.int64_data = vec![-7];
        let t = tensor_from_proto(&p, None).unwrap();
        assert_eq!((t.shape().len(), t.to_i64s()), (0, vec![-7]));
    }

    #[test]
    fn declared_size_beyond_data_is_rejected() {
        let mut p = proto(DataType::Float, &[1 << 40, 1 << 20]);
        p.raw_data = Some(vec![0; 8]);
        let e = tensor_from_proto(&p, None).unwrap_err().to_string();
        assert!(e.contains("raw_data holds 8"), "{e}");
        let mut p = proto(DataType::Float, &[i64::MAX, 4]);
        p.float_data = vec![1.0];
        assert!(tensor_from_proto(&p, None).is_err());
        let mut p = proto(DataType::Int64, &[3]);
        p.int64_data = vec![1, 2];
        assert!(tensor_from_proto(&p, None)
            .unwrap_err()
            .to_string()
            .contains("holds 2"));
        assert!(tensor_from_proto(&proto(DataType::Float, &[-1]), None).is_err());
    }

    #[test]
    fn unsupported_element_types_are_named() {
        let e = tensor_from_proto(&proto(DataType::String, &[1]), None).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        assert!(e.to_string().contains("STRING"), "{e}");
    }
}
