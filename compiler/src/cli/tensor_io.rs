//! Tensors in and out of files: NumPy `.npy` (read and write, through the
//! `npyz` crate) and ONNX `TensorProto` `.pb` (read, as in ONNX test data).
//!
//! Reading never allocates more than the file justifies: the element count
//! the header claims must fit in the file's size before any data is read.

use super::CliError;
use ingot_ir::{DType, Tensor};
use npyz::WriterBuilder;
use std::path::Path;

fn bad(path: &Path, msg: impl std::fmt::Display) -> CliError {
    CliError::user(
        format!("{}: {msg}", path.display()),
        "inputs are .npy files (numpy.save, C order, little-endian) or ONNX TensorProto .pb files",
    )
}

/// Read a tensor from `.npy` or `.pb` (by extension).
pub fn read(path: &Path) -> Result<Tensor, CliError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
    if path.extension().is_some_and(|e| e == "pb") {
        return ingot_compiler::onnx::read_tensor_pb(&bytes).map_err(|e| bad(path, e));
    }
    read_npy(path, &bytes)
}

fn read_npy(path: &Path, bytes: &[u8]) -> Result<Tensor, CliError> {
    let f = npyz::NpyFile::new(bytes).map_err(|e| bad(path, format!("not a .npy file: {e}")))?;
    if f.order() == npyz::Order::Fortran {
        return Err(bad(
            path,
            "Fortran-ordered array (save it with numpy.ascontiguousarray)",
        ));
    }
    let ts = match f.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        d => return Err(bad(path, format!("structured dtype {d:?} is not a tensor"))),
    };
    let dtype = match ts.as_str() {
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<f2" => DType::F16,
        "<i8" => DType::I64,
        "<i4" => DType::I32,
        "<i2" => DType::I16,
        "|i1" | "<i1" => DType::I8,
        "|u1" | "<u1" => DType::U8,
        "|b1" | "<b1" => DType::Bool,
        t => {
            return Err(bad(
                path,
                format!("dtype `{t}` is not supported (big-endian or unsigned wider than 8 bits?)"),
            ))
        }
    };
    let shape: Vec<usize> = f
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| bad(path, "dimension too large"))?;
    let need = shape
        .iter()
        .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(path, format!("shape {shape:?} is too large")))?;
    // Data follows the header: magic (6), version (2), header length (2
    // bytes in version 1, 4 in later ones), header.
    let start = match bytes.get(6) {
        Some(1) => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        _ => 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
    };
    let data = bytes
        .get(start..)
        .filter(|d| d.len() == need)
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "shape {shape:?} of {dtype} needs {need} bytes of data, the file has {}",
                    bytes.len().saturating_sub(start)
                ),
            )
        })?;
    let t = if dtype == DType::Bool {
        let v: Vec<bool> = data.iter().map(|&b| b != 0).collect();
        Tensor::from_bools(&shape, &v)
    } else {
        Tensor::from_bytes(dtype, &shape, data)
    };
    t.map_err(|e| bad(path, e))
}

/// Write `t` as `.npy` (f16/bf16 are written as f32).
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), CliError> {
    let io = |e: std::io::Error| {
        CliError::user(
            format!("cannot write {}: {e}", path.display()),
            "check that the output directory exists and is writable",
        )
    };
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    macro_rules! put {
        ($ty:ty, $vals:expr) => {{
            let mut w = npyz::WriteOptions::<$ty>::new()
                .default_dtype()
                .shape(&shape)
                .writer(file)
                .begin_nd()
                .map_err(io)?;
            w.extend($vals).map_err(io)?;
            w.finish().map_err(io)
        }};
    }
    let typed = |e: ingot_ir::TensorError| CliError::Internal(e.to_string());
    match t.dtype() {
        DType::F32 => put!(f32, t.as_slice::<f32>().map_err(typed)?.iter().copied()),
        DType::F64 => put!(f64, t.as_slice::<f64>().map_err(typed)?.iter().copied()),
        DType::I64 => put!(i64, t.as_slice::<i64>().map_err(typed)?.iter().copied()),
        DType::I32 => put!(i32, t.as_slice::<i32>().map_err(typed)?.iter().copied()),
        DType::I16 => put!(i16, t.as_slice::<i16>().map_err(typed)?.iter().copied()),
        DType::I8 => put!(i8, t.as_slice::<i8>().map_err(typed)?.iter().copied()),
        DType::U8 => put!(u8, t.as_slice::<u8>().map_err(typed)?.iter().copied()),
        DType::Bool => put!(bool, t.to_bools().into_iter()),
        DType::F16 | DType::BF16 => put!(f32, t.to_f64s().into_iter().map(|v| v as f32)),
    }
}

/// A file name for output `name`: characters outside `[A-Za-z0-9._-]`
/// become `_` (so `logits:0` → `logits_0.npy`).
pub fn file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        s = format!("_{s}");
    }
    format!("{s}.npy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_every_dtype() {
        let dir = std::env::temp_dir().join(format!("ingot-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ts = [
            Tensor::from_vec(&[2, 3], vec![1.5f32, -2.0, 0.0, 3.25, f32::MAX, -0.0]).unwrap(),
            Tensor::from_vec(&[3], vec![1i64, -2, i64::MAX]).unwrap(),
            Tensor::from_vec(&[2, 1], vec![7i32, -7]).unwrap(),
            Tensor::from_vec(&[1], vec![2.5f64]).unwrap(),
            Tensor::from_vec(&[4], vec![0u8, 1, 200, 255]).unwrap(),
            Tensor::from_bools(&[2, 2], &[true, false, false, true]).unwrap(),
            Tensor::from_vec(&[], vec![42.0f32]).unwrap(),
        ];
        for (i, t) in ts.iter().enumerate() {
            let p = dir.join(format!("t{i}.npy"));
            write_npy(&p, t).unwrap();
            let back = read(&p).unwrap();
            assert_eq!((back.dtype(), back.shape()), (t.dtype(), t.shape()), "{i}");
            assert_eq!(back.bytes(), t.bytes(), "{i}");
        }
        // A header claiming more data than the file has is an error.
        let p = dir.join("t0.npy");
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 4);
        std::fs::write(&p, &b).unwrap();
        assert!(read(&p).is_err());
        std::fs::write(&p, b"not numpy").unwrap();
        assert!(read(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn output_file_names_are_sanitized() {
        assert_eq!(file_name("logits"), "logits.npy");
        assert_eq!(file_name("out:0/a b"), "out_0_a_b.npy");
        assert_eq!(file_name(".."), "_...npy");
    }
}
