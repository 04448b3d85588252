"""Read and write Ingot tensor bundles (`.tensors`), the input/output file format
of `ingot bench-serve` (spec: bench/PROTOCOL.md, section "Tensor bundle").

A bundle is a short ASCII header followed by raw little-endian row-major bytes:

    ingot-tensors v1 <count>
    <name> <dtype> <rank> <d0> ... <d(rank-1)>      (one line per tensor)
    <bytes of tensor 0><bytes of tensor 1>...

Chosen over .npz so the Rust side needs no zip/npy parser: it splits lines and
copies bytes.
"""

from __future__ import annotations

import numpy as np

MAGIC = "ingot-tensors"
VERSION = "v1"

# Ingot's text-format dtype names <-> numpy dtypes (little-endian explicitly).
_TO_NP = {
    "f32": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
    "f64": np.dtype("<f8"),
    "i8": np.dtype("i1"),
    "u8": np.dtype("u1"),
    "i16": np.dtype("<i2"),
    "i32": np.dtype("<i4"),
    "i64": np.dtype("<i8"),
    "bool": np.dtype("?"),
}
_FROM_NP = {v: k for k, v in _TO_NP.items()}


def dtype_name(a: np.ndarray) -> str:
    d = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
    try:
        return _FROM_NP[d]
    except KeyError:
        raise ValueError(f"dtype {a.dtype} has no Ingot tensor-bundle name") from None


def _check_name(name: str) -> None:
    if not name or not name.isascii() or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError(f"tensor name {name!r}: must be non-empty printable ASCII without spaces")


def write(path: str, tensors: list[tuple[str, np.ndarray]]) -> None:
    """Write (name, array) pairs in order. Order is what counts: the reader
    binds tensors to model inputs by position."""
    lines = [f"{MAGIC} {VERSION} {len(tensors)}"]
    blobs = []
    for name, a in tensors:
        _check_name(name)
        dt = dtype_name(a)
        # np.asarray, not ascontiguousarray: the latter turns rank 0 into rank 1.
        a = np.asarray(a, dtype=_TO_NP[dt], order="C")
        lines.append(" ".join([name, dt, str(a.ndim), *(str(d) for d in a.shape)]))
        blobs.append(a.tobytes(order="C"))
    with open(path, "wb") as f:
        f.write(("\n".join(lines) + "\n").encode("ascii"))
        for b in blobs:
            f.write(b)


def read(path: str) -> list[tuple[str, np.ndarray]]:
    """Read a bundle; raises ValueError on any malformed or truncated file."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def line() -> list[str]:
        nonlocal pos
        end = data.find(b"\n", pos)
        if end < 0:
            raise ValueError(f"{path}: header ends early")
        toks = data[pos:end].decode("ascii").split()
        pos = end + 1
        return toks

    head = line()
    if len(head) != 3 or head[0] != MAGIC or head[1] != VERSION:
        raise ValueError(f"{path}: not an '{MAGIC} {VERSION}' bundle (header {head!r})")
    specs = []
    for _ in range(int(head[2])):
        t = line()
        if len(t) < 3 or t[1] not in _TO_NP or len(t) != 3 + int(t[2]):
            raise ValueError(f"{path}: bad tensor line {t!r}")
        specs.append((t[0], _TO_NP[t[1]], tuple(int(d) for d in t[3:])))
    out = []
    for name, dt, shape in specs:
        n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if pos + n > len(data):
            raise ValueError(f"{path}: data for {name} is truncated")
        out.append((name, np.frombuffer(data, dtype=dt, count=n // dt.itemsize, offset=pos).reshape(shape).copy()))
        pos += n
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes after the last tensor")
    return out
