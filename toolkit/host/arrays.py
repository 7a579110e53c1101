"""Checks and pointer helpers shared by every kernel wrapper: clear errors for wrong shapes and dtypes."""

from __future__ import annotations

import numpy as np

import contextlib

from toolkit.errors import DTypeError, KernelError, OdlError, ShapeError

# numpy dtype -> C element type used in the cdef
CTYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t",
    np.dtype(np.float32): "float",
    np.dtype(np.float16): "odl_f16",
}

STATUS = {0: "ODL_OK", -1: "ODL_ERR_ARG", -2: "ODL_ERR_SHAPE", -3: "ODL_ERR_SCRATCH", -4: "ODL_ERR_UNSUPPORTED"}


def as_array(x, dtype, name: str, ndim: int | None = None, shape: tuple | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous array of exactly ``dtype``.

    Integer and float arrays are never converted silently between kinds: an int8 kernel given float32 data is a
    user error and raises DTypeError naming the argument. ``shape`` may contain None for "any".
    """
    dtype = np.dtype(dtype)
    arr = np.asarray(x)
    if arr.dtype != dtype:
        raise DTypeError(f"{name}: expected dtype {dtype}, got {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
    if shape is not None:
        if len(shape) != arr.ndim or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ShapeError(f"{name}: expected shape {want}, got {arr.shape}")
    return np.ascontiguousarray(arr)


def ptr(ffi, arr: np.ndarray | None):
    """A typed C pointer into a numpy array (NULL for None). The array must stay alive during the call."""
    if arr is None:
        return ffi.NULL
    ctype = CTYPES.get(arr.dtype)
    if ctype is None:
        raise DTypeError(f"no C type for numpy dtype {arr.dtype}")
    return ffi.cast(ctype + " *", ffi.from_buffer(arr))


def check(status: int, what: str) -> None:
    """Raise KernelError for a non-OK status."""
    if status != 0:
        raise KernelError(f"{what} failed with {STATUS.get(status, status)}")


def pair(v, name: str) -> tuple[int, int]:
    """An int or a pair of ints (stride, dilation, kernel size) as a positive (h, w) pair."""
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    try:
        a, b = (int(t) for t in v)
    except (TypeError, ValueError):
        raise OdlError(f"{name}: expected an int or a pair of ints, got {v!r}") from None
    if a <= 0 or b <= 0:
        raise OdlError(f"{name}: must be positive, got {(a, b)}")
    return a, b


def padding_mode(padding) -> int:
    """'SAME' / 'VALID' (any case) as the C odl_padding value."""
    p = str(padding).upper()
    if p not in ("SAME", "VALID"):
        raise OdlError(f"padding: expected 'SAME' or 'VALID', got {padding!r}")
    return 1 if p == "SAME" else 0


def path_context(path: str | None, lib):
    """``toolkit.host.use_path(path)`` for a kernel call, or nothing when ``path`` is None."""
    if path is None:
        return contextlib.nullcontext()
    from toolkit.host import use_path

    return use_path(path, lib=lib)
