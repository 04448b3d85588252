//! External tensor data (`data_location = EXTERNAL`).
//!
//! The `location` key names a file relative to the model's folder. We reject,
//! naming the tensor and the path: absolute paths (and Windows drive or UNC
//! prefixes), any `..` component, and paths that resolve — after following
//! symlinks — outside the model's folder. The file is memory-mapped and the
//! requested `offset`/`length` checked against its size before the bytes are
//! copied into a tensor.
//!
//! The copy is deliberate for now: `Tensor` owns an aligned heap buffer.
//! Zero-copy weights need a `Tensor` storage variant backed by the mapping.

use super::proto::TensorProto;
use super::OnnxError;
use std::path::{Component, Path, PathBuf};

/// Check `location` and resolve it to a file inside `base_dir`.
pub fn resolve(tensor: &str, location: &str, base_dir: &Path) -> Result<PathBuf, OnnxError> {
    let err = |msg: &str| OnnxError::ExternalData {
        tensor: tensor.to_string(),
        location: location.to_string(),
        msg: msg.to_string(),
    };
    if location.is_empty() {
        return Err(err("empty location"));
    }
    if location.contains('\0') {
        return Err(err("location contains a NUL byte"));
    }
    // Reject forms that are absolute on any platform, not just this one.
    let b = location.as_bytes();
    let windows_drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    if location.starts_with('/') || location.starts_with('\\') || windows_drive {
        return Err(err("absolute paths are not allowed"));
    }
    let rel = Path::new(location);
    if rel.is_absolute() {
        return Err(err("absolute paths are not allowed"));
    }
    if location.split(['/', '\\']).any(|c| c == "..") {
        return Err(err("`..` components are not allowed"));
    }
    for c in rel.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => return Err(err("only plain relative paths are allowed")),
        }
    }
    let base = base_dir.canonicalize().map_err(|e| {
        err(&format!(
            "cannot resolve the model folder `{}`: {e}",
            base_dir.display()
        ))
    })?;
    let full = base
        .join(rel)
        .canonicalize()
        .map_err(|e| err(&format!("cannot open: {e}")))?;
    if !full.starts_with(&base) {
        return Err(err(&format!(
            "resolves to `{}`, outside the model folder `{}`",
            full.display(),
            base.display()
        )));
    }
    if !full.is_file() {
        return Err(err("not a regular file"));
    }
    Ok(full)
}

/// Read the `nbytes` bytes of `t`'s external data.
pub(crate) fn read(
    t: &TensorProto,
    name: &str,
    base_dir: Option<&Path>,
    nbytes: usize,
) -> Result<Vec<u8>, OnnxError> {
    let mut location = None;
    let mut offset: Option<&str> = None;
    let mut length: Option<&str> = None;
    for kv in &t.external_data {
        match kv.key.as_deref() {
            Some("location") => location = kv.value.as_deref(),
            Some("offset") => offset = kv.value.as_deref(),
            Some("length") => length = kv.value.as_deref(),
            _ => {}
        }
    }
    let loc = location.unwrap_or("");
    let err = |msg: String| OnnxError::ExternalData {
        tensor: name.to_string(),
        location: loc.to_string(),
        msg,
    };
    let Some(location) = location else {
        return Err(err("no `location` key".into()));
    };
    let Some(base_dir) = base_dir else {
        return Err(err(
            "the model was loaded from bytes without a folder for external data".into(),
        ));
    };
    let path = resolve(name, location, base_dir)?;
    let parse = |what: &str, v: Option<&str>| -> Result<Option<usize>, OnnxError> {
        v.map(|s| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| err(format!("{what} `{s}` is not a byte count")))
        })
        .transpose()
    };
    let offset = parse("offset", offset)?.unwrap_or(0);
    let length = parse("length", length)?;
    if let Some(l) = length {
        if l != nbytes {
            return Err(err(format!(
                "length {l} does not match the {nbytes} bytes the tensor's shape needs"
            )));
        }
    }
    let file = std::fs::File::open(&path).map_err(|e| err(format!("cannot open: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| err(format!("cannot stat: {e}")))?
        .len();
    let end = offset
        .checked_add(nbytes)
        .ok_or_else(|| err("offset + length overflows".into()))?;
    if end as u64 > size {
        return Err(err(format!(
            "needs bytes {offset}..{end} but the file holds {size}"
        )));
    }
    if nbytes == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the mapping is read-only and dropped before we return; a file
    // truncated concurrently by another process could fault, which is the
    // usual caveat of memory-mapping and accepted for model weights.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| err(format!("cannot map: {e}")))?;
    map.get(offset..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| err(format!("the mapping holds {} bytes", map.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escaping_locations() {
        let dir = std::env::temp_dir();
        for loc in [
            "/etc/passwd",
            "\\\\server\\x",
            "C:\\w.bin",
            "../w.bin",
            "a/../../w",
            "",
        ] {
            let e = resolve("w", loc, &dir).unwrap_err().to_string();
            assert!(e.contains("tensor `w`"), "{loc}: {e}");
        }
    }
}
