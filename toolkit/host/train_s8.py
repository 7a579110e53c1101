"""Training an int8 graph on the host: FP32 backward of int8 layers and QAS updates (csrc/include/odl/train_s8.h).

Same names as the C kernels minus ``odl_``. Arrays are numpy, NHWC with batch 1 (``(H, W, C)`` or ``(1, H, W, C)``;
results keep the rank of ``dy``). Gradients of weights and biases are w.r.t. the stored integers
(``dL/dW_q = s_w * dL/dW``) for the selected output channels, packed ``[count, ...]`` in channel order; see
docs/int8-training.md. The update functions change the int8/int32 arrays (and the momentum buffer / master copy)
in place, so those must already be C-contiguous arrays of the exact dtype.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.host import get_lib as _get_lib
from toolkit.host.arrays import as_array, check, ptr

_DEFAULT_LIB = None


def get_lib():
    """The default host build, looked up once (toolkit.host.get_lib re-hashes every source on each call)."""
    global _DEFAULT_LIB
    if _DEFAULT_LIB is None:
        _DEFAULT_LIB = _get_lib()
    return _DEFAULT_LIB


ROUNDING = {"nearest": 0, "stochastic": 1, "master": 2}
PADDING = {"valid": 0, "same": 1}


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(x) for x in v)
    if len(t) != 2:
        raise ShapeError(f"{name}: expected an int or a pair, got {v!r}")
    return t


def _hwc(x, dtype, name: str) -> tuple[np.ndarray, bool]:
    """(H, W, C) view of an NHWC batch-1 array; second value: whether the caller gave 4 dimensions."""
    arr = np.asarray(x)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ShapeError(f"{name}: batch must be 1, got shape {arr.shape}")
        return as_array(arr[0], dtype, name, ndim=3), True
    return as_array(arr, dtype, name, ndim=3), False


def _input_hwc(input_shape, name="input_shape") -> tuple[int, int, int]:
    s = tuple(int(v) for v in input_shape)
    if len(s) == 4:
        if s[0] != 1:
            raise ShapeError(f"{name}: batch must be 1, got {s}")
        s = s[1:]
    if len(s) != 3 or min(s) <= 0:
        raise ShapeError(f"{name}: expected (H, W, C) or (1, H, W, C) with positive sizes, got {input_shape!r}")
    return s


def _window(ffi, lib, in_h, in_w, kernel, stride, padding, dilation):
    if padding not in PADDING:
        raise OdlError(f"padding must be one of {', '.join(PADDING)}, got {padding!r}")
    kh, kw = _pair(kernel, "kernel_size")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    win = ffi.new("odl_window *")
    st = lib.odl_conv_geometry(in_h, in_w, kh, kw, sh, sw, dh, dw, PADDING[padding], win)
    if st != 0:
        raise ShapeError(f"no valid output for input {in_h}x{in_w}, kernel {kh}x{kw}, stride {sh}x{sw}, "
                         f"dilation {dh}x{dw}, padding {padding}")
    return win


def _dims(ffi, h, w, c):
    return ffi.new("odl_dims *", [1, h, w, c])


def _scales(w_scale, n: int, name="w_scale") -> np.ndarray:
    s = np.asarray(w_scale)
    if s.dtype.kind != "f":
        raise DTypeError(f"{name}: expected float scales, got {s.dtype}")
    s = s.astype(np.float32)  # scales are parameters: float64 lists are welcome, the kernels take float32
    if s.ndim == 0:
        s = np.full(n, s, dtype=np.float32)
    s = as_array(s, np.float32, name, shape=(n,))
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise OdlError(f"{name}: scales must be positive and finite")
    return s


def _channels(channels, out_c: int) -> tuple[np.ndarray | None, int]:
    if channels is None:
        return None, out_c
    ch = np.asarray(channels)
    if ch.dtype.kind not in "iu":
        raise DTypeError(f"channels: expected integer channel indices, got {ch.dtype}")
    ch = np.ascontiguousarray(ch.astype(np.int32).reshape(-1))
    if ch.size == 0:
        raise ShapeError("channels: select at least one channel")
    if ch.min() < 0 or ch.max() >= out_c:
        raise ShapeError(f"channels: indices must lie in [0, {out_c}), got {ch.tolist()}")
    if np.unique(ch).size != ch.size:
        raise ShapeError(f"channels: indices must be distinct, got {ch.tolist()}")
    return ch, int(ch.size)


def _scratch(ffi, size: int, size_min: int, scratch_bytes: int | None):
    n = size if scratch_bytes is None else int(scratch_bytes)
    if n < size_min:
        raise OdlError(f"scratch_bytes={n} is below the kernel's minimum of {size_min} bytes")
    buf = np.zeros(max(n, 1), dtype=np.uint8)
    return buf, ffi.from_buffer(buf), n


def _out(arr: np.ndarray, four: bool) -> np.ndarray:
    return arr[None] if four else arr


# ---- conv2d ------------------------------------------------------------------------------------------------------


def conv2d_s8_input_grad_f32(dy, w_q, w_scale, input_shape, *, stride=1, padding="valid", dilation=1,
                             scratch_bytes: int | None = None) -> np.ndarray:
    """dX (real units, float32, NHWC) of an int8 conv2d with OHWI weights ``w_q`` and per-channel ``w_scale``."""
    ffi, lib = get_lib()
    h, w, c = _input_hwc(input_shape)
    w_q = as_array(w_q, np.int8, "w_q", ndim=4)
    out_c, kh, kw, wc = w_q.shape
    if wc != c:
        raise ShapeError(f"w_q: input channels {wc} do not match input_shape channels {c}")
    win = _window(ffi, lib, h, w, (kh, kw), stride, padding, dilation)
    dy, four = _hwc(dy, np.float32, "dy")
    if dy.shape != (win.out_h, win.out_w, out_c):
        raise ShapeError(f"dy: expected shape ({win.out_h}, {win.out_w}, {out_c}), got {dy.shape}")
    s = _scales(w_scale, out_c)
    dims = _dims(ffi, h, w, c)
    buf, sp, n = _scratch(ffi, lib.odl_conv2d_s8_input_grad_f32_scratch_size(dims, out_c, win),
                          lib.odl_conv2d_s8_input_grad_f32_scratch_size_min(dims, out_c, win), scratch_bytes)
    dx = np.empty((h, w, c), np.float32)
    check(lib.odl_conv2d_s8_input_grad_f32(ptr(ffi, dy), ptr(ffi, w_q), ptr(ffi, s), out_c, dims, win, ptr(ffi, dx),
                                           sp, n), "odl_conv2d_s8_input_grad_f32")
    return _out(dx, four)


def conv2d_s8_weight_grad_f32(dy, x_q, x_scale: float, x_zero_point: int, w_scale, kernel_size, *, stride=1,
                              padding="valid", dilation=1, channels=None, bias: bool = True,
                              scratch_bytes: int | None = None):
    """(dW_q [count, KH, KW, Cin], db_q [count] or None): gradients w.r.t. the stored integers of the selected
    output channels (all when ``channels`` is None) of an int8 conv2d, from dY and the int8 input."""
    ffi, lib = get_lib()
    x_q, _ = _hwc(x_q, np.int8, "x_q")
    h, w, c = x_q.shape
    kh, kw = _pair(kernel_size, "kernel_size")
    win = _window(ffi, lib, h, w, (kh, kw), stride, padding, dilation)
    dy, _ = _hwc(dy, np.float32, "dy")
    if dy.shape[:2] != (win.out_h, win.out_w):
        raise ShapeError(f"dy: expected shape ({win.out_h}, {win.out_w}, out_c), got {dy.shape}")
    out_c = dy.shape[2]
    s = _scales(w_scale, out_c)
    ch, count = _channels(channels, out_c)
    dims = _dims(ffi, h, w, c)
    buf, sp, n = _scratch(ffi, lib.odl_conv2d_s8_weight_grad_f32_scratch_size(dims, win, count),
                          lib.odl_conv2d_s8_weight_grad_f32_scratch_size_min(dims, win, count), scratch_bytes)
    dw = np.empty((count, kh, kw, c), np.float32)
    db = np.empty(count, np.float32) if bias else None
    check(lib.odl_conv2d_s8_weight_grad_f32(ptr(ffi, dy), out_c, ptr(ffi, x_q), float(x_scale), int(x_zero_point),
                                            dims, win, ptr(ffi, s), ptr(ffi, ch), count, ptr(ffi, dw), ptr(ffi, db),
                                            sp, n), "odl_conv2d_s8_weight_grad_f32")
    return dw, db


# ---- depthwise conv2d (multiplier 1) -----------------------------------------------------------------------------


def depthwise_conv2d_s8_input_grad_f32(dy, w_q, w_scale, input_shape, *, stride=1, padding="valid",
                                       dilation=1) -> np.ndarray:
    """dX (real units) of an int8 depthwise conv2d (multiplier 1) with 1HWC weights ``w_q``."""
    ffi, lib = get_lib()
    h, w, c = _input_hwc(input_shape)
    w_q = as_array(w_q, np.int8, "w_q", ndim=4)
    if w_q.shape[0] != 1 or w_q.shape[3] != c:
        raise ShapeError(f"w_q: expected 1HWC depthwise weights (1, KH, KW, {c}), got {w_q.shape}")
    win = _window(ffi, lib, h, w, w_q.shape[1:3], stride, padding, dilation)
    dy, four = _hwc(dy, np.float32, "dy")
    if dy.shape != (win.out_h, win.out_w, c):
        raise ShapeError(f"dy: expected shape ({win.out_h}, {win.out_w}, {c}), got {dy.shape}")
    s = _scales(w_scale, c)
    dx = np.empty((h, w, c), np.float32)
    check(lib.odl_depthwise_conv2d_s8_input_grad_f32(ptr(ffi, dy), ptr(ffi, w_q), ptr(ffi, s), _dims(ffi, h, w, c),
                                                     win, ptr(ffi, dx)), "odl_depthwise_conv2d_s8_input_grad_f32")
    return _out(dx, four)


def depthwise_conv2d_s8_weight_grad_f32(dy, x_q, x_scale: float, x_zero_point: int, w_scale, kernel_size, *,
                                        stride=1, padding="valid", dilation=1, channels=None, bias: bool = True):
    """(dW_q [count, KH, KW], db_q [count] or None) of the selected channels of an int8 depthwise conv2d."""
    ffi, lib = get_lib()
    x_q, _ = _hwc(x_q, np.int8, "x_q")
    h, w, c = x_q.shape
    kh, kw = _pair(kernel_size, "kernel_size")
    win = _window(ffi, lib, h, w, (kh, kw), stride, padding, dilation)
    dy, _ = _hwc(dy, np.float32, "dy")
    if dy.shape != (win.out_h, win.out_w, c):
        raise ShapeError(f"dy: expected shape ({win.out_h}, {win.out_w}, {c}), got {dy.shape}")
    s = _scales(w_scale, c)
    ch, count = _channels(channels, c)
    dw = np.empty((count, kh, kw), np.float32)
    db = np.empty(count, np.float32) if bias else None
    check(lib.odl_depthwise_conv2d_s8_weight_grad_f32(ptr(ffi, dy), ptr(ffi, x_q), float(x_scale), int(x_zero_point),
                                                      _dims(ffi, h, w, c), win, ptr(ffi, s), ptr(ffi, ch), count,
                                                      ptr(ffi, dw), ptr(ffi, db)),
          "odl_depthwise_conv2d_s8_weight_grad_f32")
    return dw, db


# ---- pointwise conv2d (1x1, stride 1, no padding) ----------------------------------------------------------------


def pointwise_conv2d_s8_input_grad_f32(dy, w_q, w_scale, *, scratch_bytes: int | None = None) -> np.ndarray:
    """dX (real units) of an int8 pointwise conv2d with weights ``w_q`` [Cout, Cin] (or OHWI [Cout, 1, 1, Cin])."""
    ffi, lib = get_lib()
    w_q = np.asarray(w_q)
    if w_q.ndim == 4:
        if w_q.shape[1:3] != (1, 1):
            raise ShapeError(f"w_q: a pointwise kernel is 1x1, got shape {w_q.shape}")
        w_q = w_q.reshape(w_q.shape[0], w_q.shape[3])
    w_q = as_array(w_q, np.int8, "w_q", ndim=2)
    out_c, c = w_q.shape
    dy, four = _hwc(dy, np.float32, "dy")
    if dy.shape[2] != out_c:
        raise ShapeError(f"dy: expected {out_c} channels, got shape {dy.shape}")
    h, w = dy.shape[:2]
    s = _scales(w_scale, out_c)
    dims = _dims(ffi, h, w, c)
    buf, sp, n = _scratch(ffi, lib.odl_pointwise_conv2d_s8_input_grad_f32_scratch_size(dims, out_c),
                          lib.odl_pointwise_conv2d_s8_input_grad_f32_scratch_size_min(dims, out_c), scratch_bytes)
    dx = np.empty((h, w, c), np.float32)
    check(lib.odl_pointwise_conv2d_s8_input_grad_f32(ptr(ffi, dy), ptr(ffi, w_q), ptr(ffi, s), out_c, dims,
                                                     ptr(ffi, dx), sp, n), "odl_pointwise_conv2d_s8_input_grad_f32")
    return _out(dx, four)


def pointwise_conv2d_s8_weight_grad_f32(dy, x_q, x_scale: float, x_zero_point: int, w_scale, *, channels=None,
                                        bias: bool = True, scratch_bytes: int | None = None):
    """(dW_q [count, Cin], db_q [count] or None) of the selected output channels of an int8 pointwise conv2d."""
    ffi, lib = get_lib()
    x_q, _ = _hwc(x_q, np.int8, "x_q")
    h, w, c = x_q.shape
    dy, _ = _hwc(dy, np.float32, "dy")
    if dy.shape[:2] != (h, w):
        raise ShapeError(f"dy: expected shape ({h}, {w}, out_c), got {dy.shape}")
    out_c = dy.shape[2]
    s = _scales(w_scale, out_c)
    ch, count = _channels(channels, out_c)
    dims = _dims(ffi, h, w, c)
    buf, sp, n = _scratch(ffi, lib.odl_pointwise_conv2d_s8_weight_grad_f32_scratch_size(dims, count),
                          lib.odl_pointwise_conv2d_s8_weight_grad_f32_scratch_size_min(dims, count), scratch_bytes)
    dw = np.empty((count, c), np.float32)
    db = np.empty(count, np.float32) if bias else None
    check(lib.odl_pointwise_conv2d_s8_weight_grad_f32(ptr(ffi, dy), out_c, ptr(ffi, x_q), float(x_scale),
                                                      int(x_zero_point), dims, ptr(ffi, s), ptr(ffi, ch), count,
                                                      ptr(ffi, dw), ptr(ffi, db), sp, n),
          "odl_pointwise_conv2d_s8_weight_grad_f32")
    return dw, db


# ---- fully connected ---------------------------------------------------------------------------------------------


def _rows(x, dtype, name):
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None]
    return as_array(arr, dtype, name, ndim=2)


def fully_connected_s8_input_grad_f32(dy, w_q, w_scale, *, scratch_bytes: int | None = None) -> np.ndarray:
    """dX [batch, Cin] (real units) of an int8 fully connected layer with weights ``w_q`` [Cout, Cin]."""
    ffi, lib = get_lib()
    one = np.asarray(dy).ndim == 1
    dy = _rows(dy, np.float32, "dy")
    w_q = as_array(w_q, np.int8, "w_q", ndim=2)
    out_c, in_c = w_q.shape
    batch = dy.shape[0]
    if dy.shape[1] != out_c:
        raise ShapeError(f"dy: expected shape (batch, {out_c}), got {dy.shape}")
    s = _scales(w_scale, out_c)
    buf, sp, n = _scratch(ffi, lib.odl_fully_connected_s8_input_grad_f32_scratch_size(batch, in_c, out_c),
                          lib.odl_fully_connected_s8_input_grad_f32_scratch_size_min(batch, in_c, out_c),
                          scratch_bytes)
    dx = np.empty((batch, in_c), np.float32)
    check(lib.odl_fully_connected_s8_input_grad_f32(ptr(ffi, dy), batch, ptr(ffi, w_q), ptr(ffi, s), in_c, out_c,
                                                    ptr(ffi, dx), sp, n), "odl_fully_connected_s8_input_grad_f32")
    return dx[0] if one else dx


def fully_connected_s8_weight_grad_f32(dy, x_q, x_scale: float, x_zero_point: int, w_scale, *, channels=None,
                                       bias: bool = True, scratch_bytes: int | None = None):
    """(dW_q [count, Cin], db_q [count] or None) of the selected output channels of an int8 fully connected layer."""
    ffi, lib = get_lib()
    dy = _rows(dy, np.float32, "dy")
    x_q = _rows(x_q, np.int8, "x_q")
    batch, in_c = x_q.shape
    if dy.shape[0] != batch:
        raise ShapeError(f"dy: expected {batch} rows like x_q, got shape {dy.shape}")
    out_c = dy.shape[1]
    s = _scales(w_scale, out_c)
    ch, count = _channels(channels, out_c)
    buf, sp, n = _scratch(ffi, lib.odl_fully_connected_s8_weight_grad_f32_scratch_size(batch, in_c, count),
                          lib.odl_fully_connected_s8_weight_grad_f32_scratch_size_min(batch, in_c, count),
                          scratch_bytes)
    dw = np.empty((count, in_c), np.float32)
    db = np.empty(count, np.float32) if bias else None
    check(lib.odl_fully_connected_s8_weight_grad_f32(ptr(ffi, dy), batch, out_c, ptr(ffi, x_q), float(x_scale),
                                                     int(x_zero_point), in_c, ptr(ffi, s), ptr(ffi, ch), count,
                                                     ptr(ffi, dw), ptr(ffi, db), sp, n),
          "odl_fully_connected_s8_weight_grad_f32")
    return dw, db


# ---- activation backward, dequantization, PRNG ---------------------------------------------------------------------


def act_backward_s8(y_q, dy, act_min: int, act_max: int) -> np.ndarray:
    """dY with zeros where the int8 output ``y_q`` sits on the fused clamp (``y_q <= act_min`` or ``>= act_max``)."""
    ffi, lib = get_lib()
    y_q = as_array(y_q, np.int8, "y_q")
    dy = as_array(dy, np.float32, "dy", shape=y_q.shape)
    dx = np.empty_like(dy)
    check(lib.odl_act_backward_s8(ptr(ffi, y_q), ptr(ffi, dy), y_q.size, int(act_min), int(act_max), ptr(ffi, dx)),
          "odl_act_backward_s8")
    return dx


def dequantize_s8_f32(q, scale: float, zero_point: int) -> np.ndarray:
    """``scale * (q - zero_point)`` as float32."""
    ffi, lib = get_lib()
    q = as_array(q, np.int8, "q")
    out = np.empty(q.shape, np.float32)
    check(lib.odl_dequantize_s8_f32(ptr(ffi, q), q.size, float(scale), int(zero_point), ptr(ffi, out)),
          "odl_dequantize_s8_f32")
    return out


def grad_rescale_f32(g, factor: float) -> np.ndarray:
    """A copy of ``g`` times ``factor`` (e.g. 1/s_y: a gradient w.r.t. stored integers to real units)."""
    ffi, lib = get_lib()
    out = as_array(g, np.float32, "g").copy()
    check(lib.odl_grad_rescale_f32(ptr(ffi, out), out.size, float(factor)), "odl_grad_rescale_f32")
    return out


def xorshift32_next(state: int) -> int:
    """The next xorshift32 state after ``state`` (non-zero)."""
    ffi, lib = get_lib()
    st = ffi.new("uint32_t *", int(state) & 0xFFFFFFFF)
    lib.odl_xorshift32_next(st)
    return int(st[0])


# ---- QAS updates -------------------------------------------------------------------------------------------------


def _inplace(arr, dtype, name: str, shape: tuple | None = None) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy array (it is updated in place), got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise DTypeError(f"{name}: expected dtype {np.dtype(dtype)} (it is updated in place), got {arr.dtype}")
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise ShapeError(f"{name}: must be a writable C-contiguous array (it is updated in place)")
    if shape is not None and arr.shape != shape:
        raise ShapeError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr


def _layout(w_q: np.ndarray, channel_axis: int) -> tuple[int, int, int, int]:
    """(out_c, k, channel_stride, elem_stride) for weights whose output channel is the first or the last axis."""
    ax = channel_axis % w_q.ndim
    out_c = w_q.shape[ax]
    k = w_q.size // out_c
    if ax == 0:
        return out_c, k, k, 1
    if ax == w_q.ndim - 1:
        return out_c, k, 1, out_c
    raise ShapeError(f"channel_axis must be the first (OHWI) or the last (1HWC depthwise) axis, got {channel_axis}")


def _params(ffi, lr, momentum, weight_decay, rounding):
    if rounding not in ROUNDING:
        raise OdlError(f"rounding must be one of {', '.join(ROUNDING)}, got {rounding!r}")
    return ffi.new("odl_sgd_params *", [float(lr), float(momentum), float(weight_decay), ROUNDING[rounding]])


def _state(ffi, rounding, rng_state):
    if rounding != "stochastic":
        return ffi.new("uint32_t *", 0)
    if rng_state is None or int(rng_state) & 0xFFFFFFFF == 0:
        raise OdlError("stochastic rounding needs a non-zero rng_state (xorshift32 seed)")
    return ffi.new("uint32_t *", int(rng_state) & 0xFFFFFFFF)


def master_copy_init_s8(w_q, channels=None, *, channel_axis: int = 0) -> np.ndarray:
    """The FP32 master copy [count, k] (quantized units) of the selected channels of int8 weights."""
    ffi, lib = get_lib()
    w_q = as_array(w_q, np.int8, "w_q")
    out_c, k, cs, es = _layout(w_q, channel_axis)
    ch, count = _channels(channels, out_c)
    master = np.empty((count, k), np.float32)
    check(lib.odl_master_copy_init_s8(ptr(ffi, w_q), out_c, k, cs, es, ptr(ffi, ch), count, ptr(ffi, master)),
          "odl_master_copy_init_s8")
    return master


def sgd_qas_update_s8(w_q: np.ndarray, w_scale, grad, *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                      rounding: str = "nearest", channels=None, momentum_buf: np.ndarray | None = None,
                      master: np.ndarray | None = None, rng_state: int | None = None, channel_axis: int = 0) -> int:
    """SGD-QAS step on the selected output channels of int8 weights, in place.

    ``grad`` is dL/dW_q of the slice (``[count, ...]`` packed, as the weight-grad kernels return it);
    ``momentum_buf`` and ``master`` are float32 ``[count, k]`` arrays updated in place; ``channel_axis`` is 0 for
    OHWI / [Cout, Cin] weights and -1 for 1HWC depthwise weights. Returns the next xorshift32 state (``rng_state``
    unchanged, or 0 when None, when not rounding stochastically).
    """
    ffi, lib = get_lib()
    w_q = _inplace(w_q, np.int8, "w_q")
    out_c, k, cs, es = _layout(w_q, channel_axis)
    s = _scales(w_scale, out_c)
    ch, count = _channels(channels, out_c)
    g = as_array(grad, np.float32, "grad")
    if g.size != count * k:
        raise ShapeError(f"grad: expected {count} x {k} values for the selected channels, got shape {g.shape}")
    if momentum != 0.0:
        if momentum_buf is None:
            raise OdlError("momentum != 0 needs a momentum_buf (float32, zeros at the start)")
        momentum_buf = _inplace(momentum_buf, np.float32, "momentum_buf")
        if momentum_buf.size != count * k:
            raise ShapeError(f"momentum_buf: expected {count} x {k} values, got shape {momentum_buf.shape}")
    if rounding == "master":
        if master is None:
            raise OdlError("rounding='master' needs the master copy (see master_copy_init_s8)")
        master = _inplace(master, np.float32, "master")
        if master.size != count * k:
            raise ShapeError(f"master: expected {count} x {k} values, got shape {master.shape}")
    p = _params(ffi, lr, momentum, weight_decay, rounding)
    st = _state(ffi, rounding, rng_state)
    check(lib.odl_sgd_qas_update_s8(ptr(ffi, w_q), out_c, k, cs, es, ptr(ffi, s), ptr(ffi, ch), count, ptr(ffi, g),
                                    ptr(ffi, momentum_buf if momentum != 0.0 else None),
                                    ptr(ffi, master if rounding == "master" else None), st, p),
          "odl_sgd_qas_update_s8")
    return int(st[0]) if rounding == "stochastic" else int(rng_state or 0)


def sgd_qas_update_bias_s32(b_q: np.ndarray, w_scale, x_scale: float, grad, *, lr: float, momentum: float = 0.0,
                            weight_decay: float = 0.0, rounding: str = "nearest", channels=None,
                            momentum_buf: np.ndarray | None = None, master: np.ndarray | None = None,
                            rng_state: int | None = None) -> int:
    """SGD-QAS step on the selected entries of an int32 bias (scale ``w_scale[c] * x_scale``), in place.

    ``grad`` is dL/db_q [count]; for ``rounding='master'`` the master copy is ``b_q[channels].astype(float32)`` at
    the start. Returns the next xorshift32 state like :func:`sgd_qas_update_s8`.
    """
    ffi, lib = get_lib()
    b_q = _inplace(b_q, np.int32, "b_q")
    if b_q.ndim != 1:
        raise ShapeError(f"b_q: expected a 1-D bias, got shape {b_q.shape}")
    out_c = b_q.size
    s = _scales(w_scale, out_c)
    if not np.isfinite(x_scale) or x_scale <= 0:
        raise OdlError(f"x_scale must be positive and finite, got {x_scale}")
    ch, count = _channels(channels, out_c)
    g = as_array(grad, np.float32, "grad", shape=(count,))
    if momentum != 0.0:
        if momentum_buf is None:
            raise OdlError("momentum != 0 needs a momentum_buf (float32, zeros at the start)")
        momentum_buf = _inplace(momentum_buf, np.float32, "momentum_buf", shape=(count,))
    if rounding == "master":
        if master is None:
            raise OdlError("rounding='master' needs the master copy (float32 [count])")
        master = _inplace(master, np.float32, "master", shape=(count,))
    p = _params(ffi, lr, momentum, weight_decay, rounding)
    st = _state(ffi, rounding, rng_state)
    check(lib.odl_sgd_qas_update_bias_s32(ptr(ffi, b_q), out_c, ptr(ffi, s), float(x_scale), ptr(ffi, ch), count,
                                          ptr(ffi, g), ptr(ffi, momentum_buf if momentum != 0.0 else None),
                                          ptr(ffi, master if rounding == "master" else None), st, p),
          "odl_sgd_qas_update_bias_s32")
    return int(st[0]) if rounding == "stochastic" else int(rng_state or 0)
