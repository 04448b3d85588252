//! Executable machine code: the kernel functions the compiler generated,
//! copied into one read+execute mapping.
//!
//! Every function has the signature [`KernelFn`]
//! (`fn(rows: i64, len: i64, ptrs: *const *mut u8, row_strides: *const i64)`),
//! is position independent and makes no external call (the compiler checks
//! that its code has no relocations), so the same bytes run wherever they
//! are mapped: straight from the JIT, or from an `.ingot` artifact.
//!
//! The mapping is written once, then turned read+execute before any
//! function pointer exists; it is never writable and executable at once.

use std::sync::Arc;

/// The ABI of every generated kernel function.
pub type KernelFn = unsafe extern "C" fn(i64, i64, *const *mut u8, *const i64);

/// Functions start on this boundary inside an image.
pub const FUNC_ALIGN: usize = 64;

/// Machine code for several functions in one executable mapping.
pub struct CodeImage {
    map: memmap2::Mmap,
    funcs: Vec<(usize, usize)>,
}

impl std::fmt::Debug for CodeImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CodeImage({} functions, {} bytes)",
            self.funcs.len(),
            self.map.len()
        )
    }
}

impl CodeImage {
    /// Map `blobs` (one function each) executable.
    ///
    /// # Safety
    /// Each blob must be machine code for this CPU with the [`KernelFn`]
    /// ABI, position independent and without external references, that
    /// accesses only what its arguments describe. (Artifacts get there by
    /// checksums and a CPU-feature check; the JIT by construction.)
    pub unsafe fn new(blobs: &[&[u8]]) -> Result<Arc<CodeImage>, String> {
        let mut funcs = Vec::with_capacity(blobs.len());
        let mut len = 0usize;
        for b in blobs {
            if b.is_empty() {
                return Err("empty kernel function".into());
            }
            funcs.push((len, b.len()));
            len = len
                .checked_add(b.len().next_multiple_of(FUNC_ALIGN))
                .ok_or("code image too large")?;
        }
        let mut m = memmap2::MmapMut::map_anon(len.max(1))
            .map_err(|e| format!("cannot map {len} bytes for code: {e}"))?;
        for (b, &(off, n)) in blobs.iter().zip(&funcs) {
            m[off..off + n].copy_from_slice(b);
        }
        let map = m
            .make_exec()
            .map_err(|e| format!("cannot make code executable: {e}"))?;
        Ok(Arc::new(CodeImage { map, funcs }))
    }

    pub fn len(&self) -> usize {
        self.funcs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }

    /// Function `i`, kept alive with the image.
    pub fn func(self: &Arc<Self>, i: usize) -> Option<CodeFn> {
        let &(off, _) = self.funcs.get(i)?;
        // SAFETY: `off` is inside the mapping and starts function `i`, whose
        // ABI is `KernelFn` (the contract of `CodeImage::new`).
        let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(self.map.as_ptr().add(off)) };
        Some(CodeFn {
            f,
            _image: self.clone(),
        })
    }
}

/// One generated function, and the image that holds it.
#[derive(Clone)]
pub struct CodeFn {
    f: KernelFn,
    _image: Arc<CodeImage>,
}

impl CodeFn {
    /// Map one function on its own (JIT variants compiled at run time).
    ///
    /// # Safety
    /// As [`CodeImage::new`].
    pub unsafe fn single(code: &[u8]) -> Result<CodeFn, String> {
        let img = CodeImage::new(&[code])?;
        Ok(img.func(0).expect("one function"))
    }

    /// Call the function.
    ///
    /// # Safety
    /// `ptrs`/`strides` describe buffers valid for every access the function
    /// makes with `rows` and `len` (see the kernel that owns it).
    pub unsafe fn call(&self, rows: usize, len: usize, ptrs: &[*mut u8], strides: &[i64]) {
        (self.f)(rows as i64, len as i64, ptrs.as_ptr(), strides.as_ptr())
    }
}

// SAFETY: the mapping is immutable (read+execute) for its whole life and the
// functions keep no state, so calling them from many threads is sound.
unsafe impl Send for CodeFn {}
// SAFETY: as above.
unsafe impl Sync for CodeFn {}
// SAFETY: as above (the image is only read).
unsafe impl Sync for CodeImage {}
// SAFETY: as above.
unsafe impl Send for CodeImage {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn mapped_code_runs() {
        // mov rax,[rdx]; mov [rax],rdi; ret  (System V: rdi=rows, rdx=ptrs)
        let code = [0x48, 0x8b, 0x02, 0x48, 0x89, 0x38, 0xc3];
        let img = unsafe { CodeImage::new(&[&code, &code]) }.expect("maps");
        let f = img.func(1).expect("second function");
        assert!(img.func(2).is_none());
        let mut out = 0i64;
        let ptrs = [&mut out as *mut i64 as *mut u8];
        unsafe { f.call(42, 0, &ptrs, &[]) };
        assert_eq!(out, 42);
    }
}
