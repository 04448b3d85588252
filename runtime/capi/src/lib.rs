//! # ingot-capi
//!
//! The C API over `ingot-runtime`, built as a static library
//! (`libingot_capi.a`). Objects written by `ingot compile --emit obj` embed
//! their artifact and call [`ingot_model_load`] from their generated
//! `<name>_create`; their header declares everything below (see
//! `examples/c/`).
//!
//! Every function catches panics and reports errors as a nonzero status (or
//! a null model) with a message in the caller's `err` buffer (truncated to
//! `err_len - 1` bytes, always NUL-terminated when `err_len > 0`).
//!
//! Shapes are static: inputs and outputs are dense row-major buffers of the
//! sizes the header gives.

use ingot_runtime::artifact::load_shared;
use ingot_runtime::{DType, Model, Tensor};
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A loaded model (opaque to C).
pub struct IngotModel {
    model: Model,
    inputs: Vec<(DType, Vec<usize>)>,
    outputs: Vec<(DType, Vec<usize>)>,
}

/// Bytes that live for the whole program (an object's embedded artifact).
struct StaticBytes(&'static [u8]);

impl AsRef<[u8]> for StaticBytes {
    fn as_ref(&self) -> &[u8] {
        self.0
    }
}

unsafe fn set_err(err: *mut c_char, err_len: usize, msg: &str) {
    if err.is_null() || err_len == 0 {
        return;
    }
    let n = msg.len().min(err_len - 1);
    std::ptr::copy_nonoverlapping(msg.as_ptr(), err as *mut u8, n);
    *err.add(n) = 0;
}

fn static_shapes(
    m: &Model,
    bufs: &[usize],
    what: &str,
) -> Result<Vec<(DType, Vec<usize>)>, String> {
    let p = m.program();
    bufs.iter()
        .map(|&b| {
            let info = &p.bufs[b];
            let dims = info
                .ty
                .shape
                .iter()
                .map(|d| d.as_known().map(|n| n as usize))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    format!(
                        "{what} `{}` has type {}: the C API needs static shapes",
                        info.name, info.ty
                    )
                })?;
            Ok((info.ty.dtype, dims))
        })
        .collect()
}

fn load(bytes: &'static [u8], threads: usize) -> Result<IngotModel, String> {
    let loaded = load_shared(Arc::new(StaticBytes(bytes)), threads).map_err(|e| e.to_string())?;
    let p = loaded.model.program();
    let inputs = static_shapes(&loaded.model, &p.inputs, "input")?;
    let outputs = static_shapes(&loaded.model, &p.outputs, "output")?;
    Ok(IngotModel {
        model: loaded.model,
        inputs,
        outputs,
    })
}

/// Load an artifact from `len` bytes at `bytes`, which must stay valid and
/// unchanged for the rest of the program (an object's embedded data, or a
/// buffer the caller never frees). `threads` = 0: one per core. Returns
/// null on error, with the reason in `err`.
///
/// # Safety
/// `bytes` points to `len` readable bytes that outlive the process's use
/// of the model; `err` points to `err_len` writable bytes (or is null).
#[no_mangle]
pub unsafe extern "C" fn ingot_model_load(
    bytes: *const u8,
    len: usize,
    threads: c_int,
    err: *mut c_char,
    err_len: usize,
) -> *mut IngotModel {
    if bytes.is_null() {
        set_err(err, err_len, "ingot_model_load: null bytes");
        return std::ptr::null_mut();
    }
    let data: &'static [u8] = std::slice::from_raw_parts(bytes, len);
    let threads = usize::try_from(threads).unwrap_or(0);
    match catch_unwind(|| load(data, threads)) {
        Ok(Ok(m)) => Box::into_raw(Box::new(m)),
        Ok(Err(e)) => {
            set_err(err, err_len, &e);
            std::ptr::null_mut()
        }
        Err(_) => {
            set_err(err, err_len, "ingot_model_load: internal error (panic)");
            std::ptr::null_mut()
        }
    }
}

/// Run `model`: `inputs[i]` points to input i's dense data, `outputs[j]`
/// to a buffer for output j (sizes as the header says). Returns 0, or 1
/// with the reason in `err`. Safe to call from several threads at once.
///
/// # Safety
/// `model` came from `ingot_model_load` and was not destroyed; the input
/// and output arrays hold as many valid pointers as the model has inputs
/// and outputs, each to a buffer of the documented size.
#[no_mangle]
pub unsafe extern "C" fn ingot_model_run(
    model: *const IngotModel,
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
    err: *mut c_char,
    err_len: usize,
) -> c_int {
    let Some(m) = model.as_ref() else {
        set_err(err, err_len, "ingot_model_run: null model");
        return 1;
    };
    if (inputs.is_null() && !m.inputs.is_empty()) || (outputs.is_null() && !m.outputs.is_empty()) {
        set_err(err, err_len, "ingot_model_run: null input or output array");
        return 1;
    }
    let run = AssertUnwindSafe(|| -> Result<(), String> {
        let mut ins = Vec::with_capacity(m.inputs.len());
        for (i, (dt, shape)) in m.inputs.iter().enumerate() {
            let p = *inputs.add(i);
            if p.is_null() {
                return Err(format!("input {i} is null"));
            }
            let n: usize = shape.iter().product::<usize>() * dt.size();
            let bytes = std::slice::from_raw_parts(p as *const u8, n);
            ins.push(Tensor::from_bytes(*dt, shape, bytes).map_err(|e| e.to_string())?);
        }
        let outs = m.model.run(&ins).map_err(|e| e.to_string())?;
        for (j, t) in outs.iter().enumerate() {
            let p = *outputs.add(j);
            if p.is_null() {
                return Err(format!("output {j} is null"));
            }
            let b = t.bytes();
            std::ptr::copy_nonoverlapping(b.as_ptr(), p as *mut u8, b.len());
        }
        Ok(())
    });
    match catch_unwind(run) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            set_err(err, err_len, &e);
            1
        }
        Err(_) => {
            set_err(err, err_len, "ingot_model_run: internal error (panic)");
            1
        }
    }
}

/// Free a model from `ingot_model_load` (null is ignored).
///
/// # Safety
/// `model` came from `ingot_model_load`, is not used afterwards, and no
/// run on it is in progress.
#[no_mangle]
pub unsafe extern "C" fn ingot_model_destroy(model: *mut IngotModel) {
    if !model.is_null() {
        drop(Box::from_raw(model));
    }
}
