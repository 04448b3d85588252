//! The kernel interface: what every compiled step implements.
//!
//! A kernel receives raw buffers (`Arg`: pointer, dtype, concrete shape) for
//! its operands and results, already allocated by the executor (arena slots,
//! graph inputs, constants). Kernels never allocate their results; scratch
//! space is their own business (thread-local or per-call).
//!
//! Aliasing: the memory plan may give a *single elementwise op's* result the
//! buffer of an operand that dies there (exactly the same pointer and size).
//! Elementwise kernels (and [`RangeKernel`]s) must therefore be correct when an
//! output pointer equals an input pointer. No other overlap ever happens.
//!
//! Threads: `run` is called inside the model's persistent rayon pool
//! (`Ctx::threads` workers); a kernel may use `rayon` to split big work and
//! should not for tiny work (batch-1 latency is dominated by overhead).
//!
//! This crate defines the traits; implementations come from here
//! (micro-kernels in `kernels/`) and from the compiler (JIT code), which keeps
//! its code memory alive inside the kernel object.

use ingot_ir::DType;
use std::fmt;

/// A buffer handed to a kernel.
#[derive(Clone, Copy)]
pub struct Arg<'a> {
    pub ptr: *mut u8,
    pub dtype: DType,
    pub shape: &'a [usize],
}

impl fmt::Debug for Arg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}@{:p}", self.dtype, self.shape, self.ptr)
    }
}

impl<'a> Arg<'a> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// # Safety
    /// `ptr` must point to `numel` valid, aligned `T`s that nobody writes
    /// while the slice lives, and `T` must match `dtype`.
    pub unsafe fn slice<T>(&self) -> &'a [T] {
        std::slice::from_raw_parts(self.ptr as *const T, self.numel())
    }

    /// # Safety
    /// As [`Arg::slice`], and nobody else reads or writes the buffer while
    /// the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<T>(&self) -> &'a mut [T] {
        std::slice::from_raw_parts_mut(self.ptr as *mut T, self.numel())
    }
}

// Kernels split work across the pool; the executor guarantees the buffers
// outlive the call and that concurrent writers touch disjoint ranges.
unsafe impl Send for Arg<'_> {}
unsafe impl Sync for Arg<'_> {}

/// What a kernel may use while it runs.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Worker threads in the current pool (1 = run serially).
    pub threads: usize,
}

/// A kernel failure (a shape the kernel cannot handle, a bad index in
/// Gather, ...): the executor adds the node and op to the message.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelError(pub String);

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for KernelError {
    fn from(s: String) -> Self {
        KernelError(s)
    }
}

/// One compiled step.
pub trait Kernel: Send + Sync {
    /// Short description for profiles and `inspect` (`"jit elementwise (3 ops)"`,
    /// `"conv 3x3 im2col+gemm"`).
    fn describe(&self) -> String;

    /// Compute `outs` from `ins`.
    ///
    /// # Safety
    /// Every `Arg` points to a live buffer of its dtype and shape; outputs do
    /// not overlap inputs except as described in the module docs.
    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError>;
}

/// An elementwise computation that can run on part of its output: the
/// epilogue of a contraction, applied while the freshly computed tile is
/// still in cache.
pub trait RangeKernel: Send + Sync {
    fn describe(&self) -> String;

    /// Check that operands of these shapes can run (and get ready for
    /// them) before any `run_range` call with the same shapes.
    fn prepare(&self, _ins: &[Arg], _outs: &[Arg]) -> Result<(), KernelError> {
        Ok(())
    }

    /// Compute output elements `[begin, end)` (row-major flat indices of
    /// the output shape) of every output, reading the matching (broadcast)
    /// input elements. Outputs may alias inputs exactly.
    ///
    /// # Safety
    /// As [`Kernel::run`]; `begin <= end <= numel(output)`.
    unsafe fn run_range(&self, ins: &[Arg], outs: &[Arg], begin: usize, end: usize);
}
