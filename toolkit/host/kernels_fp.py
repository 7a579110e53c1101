"""FP32 / FP16 training kernels (csrc/include/odl/kernels_fp.h) on numpy arrays.

The dtype of the inputs picks the kernel: float32 -> ``odl_*_f32_*``, float16 -> ``odl_*_f16_*`` (FP16 storage, FP32
accumulation; see the header for where each kernel rounds). Every matmul-based kernel runs through the active code
path; pass ``path='reference'`` or ``path='host'`` to choose it for one call (``None`` keeps the current one).

Layouts: activations NHWC (4-D), conv weights OHWI ``(Cout, KH, KW, Cin)``, depthwise weights 1HWC
``(1, KH, KW, C)``, pointwise weights ``(Cout, 1, 1, Cin)`` or ``(Cout, Cin)``, fully-connected weights
``(out, in)``. Padding is ``'same'`` or ``'valid'`` (TFLite's meaning: SAME may pad asymmetrically, extra at the
end). Gradient functions return new arrays; ``sgd_update`` works in place.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.host import get_lib
from toolkit.host.arrays import as_array, check, ptr
from toolkit.host.arrays import padding_mode as _padding
from toolkit.host.arrays import pair as _pair
from toolkit.host.arrays import path_context as _path

_TY = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16"}


# ----------------------------------------------------------------------------------------------- helpers


def _lib():
    return get_lib()


def _kind(x, name: str) -> np.dtype:
    dt = np.asarray(x).dtype
    if dt not in _TY:
        raise DTypeError(f"{name}: expected float32 or float16, got {dt}")
    return dt


def _fn(lib, op: str, dt: np.dtype, pass_: str | None = None):
    name = f"odl_{op}_{_TY[dt]}" + (f"_{pass_}" if pass_ else "")
    return getattr(lib, name), name








def _dims(ffi, shape):
    d = ffi.new("odl_dims *")
    d.n, d.h, d.w, d.c = (int(s) for s in shape)
    return d


def _window(ffi, lib, in_shape, kernel, stride, dilation, padding):
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    win = ffi.new("odl_window *")
    st = lib.odl_conv_geometry(int(in_shape[1]), int(in_shape[2]), kh, kw, sh, sw, dh, dw, _padding(padding), win)
    if st != 0:
        raise ShapeError(
            f"window {kh}x{kw} (stride {sh}x{sw}, dilation {dh}x{dw}, {padding}) does not fit an input of "
            f"{in_shape[1]}x{in_shape[2]}"
        )
    return win


def _nhwc(x, dt, name: str) -> np.ndarray:
    arr = as_array(x, dt, name, ndim=4)
    if 0 in arr.shape:
        raise ShapeError(f"{name}: empty shape {arr.shape}")
    return arr


def _conv_params(ffi, lib, x_shape, out_c, kernel, stride, dilation, padding):
    p = ffi.new("odl_conv_f_params *")
    setattr(p, "in", _dims(ffi, x_shape)[0])  # the C field is named `in`, a Python keyword
    p.out_c = int(out_c)
    p.win = _window(ffi, lib, x_shape, kernel, stride, dilation, padding)[0]
    return p


def _out_shape(p, n, c):
    return (n, p.win.out_h, p.win.out_w, c)


def _scratch(ffi, size_fn, p, dt, scratch_rows):
    """Scratch for a conv2d pass: all P rows by default (one block), or `scratch_rows` rows."""
    if size_fn(p) == 0:  # identity im2col
        return None, ffi.NULL, 0
    k = p.win.kernel_h * p.win.kernel_w * getattr(p, "in").c
    rows = p.win.out_h * p.win.out_w if scratch_rows is None else int(scratch_rows)
    if rows <= 0:
        raise OdlError(f"scratch_rows must be positive, got {scratch_rows}")
    buf = np.empty(rows * k, dtype=dt)
    return buf, ffi.from_buffer(buf), buf.nbytes


def _vec(x, dt, name, n):
    return None if x is None else as_array(x, dt, name, shape=(n,))


# ----------------------------------------------------------------------------------------------- conv2d


def conv2d_forward(x, w, b=None, *, stride=1, dilation=1, padding="valid", path=None, scratch_rows=None):
    """y = conv2d(x NHWC, w OHWI) + b. ``scratch_rows`` bounds the im2col block (default: all output pixels)."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    w = as_array(w, dt, "w", ndim=4)
    if w.shape[3] != x.shape[3]:
        raise ShapeError(f"w: expected {x.shape[3]} input channels (OHWI), got shape {w.shape}")
    b = _vec(b, dt, "b", w.shape[0])
    p = _conv_params(ffi, lib, x.shape, w.shape[0], w.shape[1:3], stride, dilation, padding)
    y = np.empty(_out_shape(p, x.shape[0], w.shape[0]), dtype=dt)
    fn, name = _fn(lib, "conv2d", dt, "forward")
    size_fn, _ = _fn(lib, "conv2d", dt, "forward_scratch_size")
    _keep, sp, sb = _scratch(ffi, size_fn, p, dt, scratch_rows)
    with _path(path, lib):
        check(fn(p, ptr(ffi, x), ptr(ffi, w), ptr(ffi, b), ptr(ffi, y), sp, sb), name)
    return y


def conv2d_weight_grad(x, dy, *, kernel=None, w_shape=None, stride=1, dilation=1, padding="valid", bias=True,
                       path=None, scratch_rows=None):
    """(dw OHWI, db) of a conv2d; give the kernel size as ``kernel=(kh, kw)`` or ``w_shape``. db is None if not bias."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    dy = as_array(dy, dt, "dy", ndim=4)
    if kernel is None:
        if w_shape is None:
            raise OdlError("conv2d_weight_grad needs kernel=(kh, kw) or w_shape=(Cout, kh, kw, Cin)")
        if len(w_shape) != 4 or w_shape[0] != dy.shape[3] or w_shape[3] != x.shape[3]:
            raise ShapeError(f"w_shape {tuple(w_shape)} does not match x {x.shape} and dy {dy.shape}")
        kernel = tuple(w_shape[1:3])
    cout = dy.shape[3]
    p = _conv_params(ffi, lib, x.shape, cout, kernel, stride, dilation, padding)
    as_array(dy, dt, "dy", shape=_out_shape(p, x.shape[0], None))
    dw = np.empty((cout, p.win.kernel_h, p.win.kernel_w, x.shape[3]), dtype=dt)
    db = np.empty(cout, dtype=dt) if bias else None
    fn, name = _fn(lib, "conv2d", dt, "weight_grad")
    size_fn, _ = _fn(lib, "conv2d", dt, "weight_grad_scratch_size")
    _keep, sp, sb = _scratch(ffi, size_fn, p, dt, scratch_rows)
    with _path(path, lib):
        check(fn(p, ptr(ffi, x), ptr(ffi, dy), ptr(ffi, dw), ptr(ffi, db), sp, sb), name)
    return dw, db


def conv2d_input_grad(dy, w, *, x_shape, stride=1, dilation=1, padding="valid", path=None, scratch_rows=None):
    """dx (shape ``x_shape``, NHWC) of a conv2d with weights w (OHWI)."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    dy = as_array(dy, dt, "dy", ndim=4)
    w = as_array(w, dt, "w", ndim=4)
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or min(x_shape) <= 0:
        raise ShapeError(f"x_shape: expected a positive NHWC shape, got {x_shape}")
    if w.shape[3] != x_shape[3] or w.shape[0] != dy.shape[3]:
        raise ShapeError(f"w {w.shape} does not match x_shape {x_shape} and dy {dy.shape}")
    p = _conv_params(ffi, lib, x_shape, w.shape[0], w.shape[1:3], stride, dilation, padding)
    as_array(dy, dt, "dy", shape=_out_shape(p, x_shape[0], w.shape[0]))
    dx = np.empty(x_shape, dtype=dt)
    fn, name = _fn(lib, "conv2d", dt, "input_grad")
    size_fn, _ = _fn(lib, "conv2d", dt, "input_grad_scratch_size")
    _keep, sp, sb = _scratch(ffi, size_fn, p, dt, scratch_rows)
    with _path(path, lib):
        check(fn(p, ptr(ffi, dy), ptr(ffi, w), ptr(ffi, dx), sp, sb), name)
    return dx


def im2col(x, *, kernel, stride=1, dilation=1, padding="valid"):
    """im2col of one NHWC image (x of shape (1, H, W, C)): (P, KH*KW*C), columns ordered (kh, kw, c)."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    if x.shape[0] != 1:
        raise ShapeError(f"x: im2col takes one image (batch 1), got shape {x.shape}")
    win = _window(ffi, lib, x.shape, kernel, stride, dilation, padding)
    col = np.empty((win.out_h * win.out_w, win.kernel_h * win.kernel_w * x.shape[3]), dtype=dt)
    fn, name = _fn(lib, "im2col", dt)
    check(fn(ptr(ffi, x), _dims(ffi, x.shape), win, 0, col.shape[0], ptr(ffi, col)), name)
    return col


def col2im(col, *, x_shape, kernel, stride=1, dilation=1, padding="valid"):
    """Scatter-add of an im2col matrix back into a zero image of shape x_shape = (1, H, W, C)."""
    ffi, lib = _lib()
    dt = _kind(col, "col")
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or x_shape[0] != 1:
        raise ShapeError(f"x_shape: expected (1, H, W, C), got {x_shape}")
    win = _window(ffi, lib, x_shape, kernel, stride, dilation, padding)
    col = as_array(col, dt, "col", shape=(win.out_h * win.out_w, win.kernel_h * win.kernel_w * x_shape[3]))
    x = np.zeros(x_shape, dtype=dt)
    fn, name = _fn(lib, "col2im", dt)
    check(fn(ptr(ffi, col), _dims(ffi, x_shape), win, 0, col.shape[0], ptr(ffi, x)), name)
    return x


# ----------------------------------------------------------------------------------------------- depthwise


def _dw_weights(w, dt, c):
    w = as_array(w, dt, "w", ndim=4)
    if w.shape[0] != 1 or w.shape[3] != c:
        raise ShapeError(f"w: expected depthwise weights (1, KH, KW, {c}) (multiplier 1), got {w.shape}")
    return w


def depthwise_conv2d_forward(x, w, b=None, *, stride=1, dilation=1, padding="valid", path=None):
    """Depthwise conv2d (depth multiplier 1): x NHWC, w (1, KH, KW, C), b (C,)."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    c = x.shape[3]
    w = _dw_weights(w, dt, c)
    b = _vec(b, dt, "b", c)
    p = _conv_params(ffi, lib, x.shape, c, w.shape[1:3], stride, dilation, padding)
    y = np.empty(_out_shape(p, x.shape[0], c), dtype=dt)
    fn, name = _fn(lib, "depthwise_conv2d", dt, "forward")
    with _path(path, lib):
        check(fn(p, ptr(ffi, x), ptr(ffi, w), ptr(ffi, b), ptr(ffi, y)), name)
    return y


def depthwise_conv2d_weight_grad(x, dy, *, kernel, stride=1, dilation=1, padding="valid", bias=True, path=None):
    """(dw (1, KH, KW, C), db (C,) or None) of a depthwise conv2d."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    c = x.shape[3]
    p = _conv_params(ffi, lib, x.shape, c, kernel, stride, dilation, padding)
    dy = as_array(dy, dt, "dy", shape=_out_shape(p, x.shape[0], c))
    dw = np.empty((1, p.win.kernel_h, p.win.kernel_w, c), dtype=dt)
    db = np.empty(c, dtype=dt) if bias else None
    fn, name = _fn(lib, "depthwise_conv2d", dt, "weight_grad")
    with _path(path, lib):
        check(fn(p, ptr(ffi, x), ptr(ffi, dy), ptr(ffi, dw), ptr(ffi, db)), name)
    return dw, db


def depthwise_conv2d_input_grad(dy, w, *, x_shape, stride=1, dilation=1, padding="valid", path=None):
    """dx (x_shape) of a depthwise conv2d."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or min(x_shape) <= 0:
        raise ShapeError(f"x_shape: expected a positive NHWC shape, got {x_shape}")
    w = _dw_weights(w, dt, x_shape[3])
    p = _conv_params(ffi, lib, x_shape, x_shape[3], w.shape[1:3], stride, dilation, padding)
    dy = as_array(dy, dt, "dy", shape=_out_shape(p, x_shape[0], x_shape[3]))
    dx = np.empty(x_shape, dtype=dt)
    fn, name = _fn(lib, "depthwise_conv2d", dt, "input_grad")
    with _path(path, lib):
        check(fn(p, ptr(ffi, dy), ptr(ffi, w), ptr(ffi, dx)), name)
    return dx


# ----------------------------------------------------------------------------------------------- dense


def _pw_weights(w, dt):
    w = as_array(w, dt, "w")
    if w.ndim == 4 and w.shape[1:3] == (1, 1):
        return w.reshape(w.shape[0], w.shape[3])
    if w.ndim == 2:
        return w
    raise ShapeError(f"w: expected pointwise weights (Cout, 1, 1, Cin) or (Cout, Cin), got {w.shape}")


def pointwise_conv2d_forward(x, w, b=None, *, path=None):
    """1x1 stride-1 conv2d: x NHWC, w (Cout, 1, 1, Cin) or (Cout, Cin), b (Cout,)."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    w2 = _pw_weights(w, dt)
    cout, cin = w2.shape
    if cin != x.shape[3]:
        raise ShapeError(f"w: expected {x.shape[3]} input channels, got shape {np.shape(w)}")
    b = _vec(b, dt, "b", cout)
    y = np.empty(x.shape[:3] + (cout,), dtype=dt)
    fn, name = _fn(lib, "pointwise_conv2d", dt, "forward")
    with _path(path, lib):
        check(fn(ptr(ffi, x), ptr(ffi, w2), ptr(ffi, b), ptr(ffi, y), x.size // cin, cin, cout), name)
    return y


def pointwise_conv2d_weight_grad(x, dy, *, bias=True, path=None):
    """(dw (Cout, 1, 1, Cin), db (Cout,) or None) of a pointwise conv2d."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    dy = as_array(dy, dt, "dy", ndim=4)
    if dy.shape[:3] != x.shape[:3]:
        raise ShapeError(f"dy: expected shape {x.shape[:3] + ('Cout',)}, got {dy.shape}")
    cin, cout = x.shape[3], dy.shape[3]
    dw = np.empty((cout, 1, 1, cin), dtype=dt)
    db = np.empty(cout, dtype=dt) if bias else None
    fn, name = _fn(lib, "pointwise_conv2d", dt, "weight_grad")
    with _path(path, lib):
        check(fn(ptr(ffi, x), ptr(ffi, dy), ptr(ffi, dw), ptr(ffi, db), x.size // cin, cin, cout), name)
    return dw, db


def pointwise_conv2d_input_grad(dy, w, *, path=None):
    """dx (N, H, W, Cin) of a pointwise conv2d."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    dy = _nhwc(dy, dt, "dy")
    w2 = _pw_weights(w, dt)
    cout, cin = w2.shape
    if dy.shape[3] != cout:
        raise ShapeError(f"dy: expected {cout} channels, got shape {dy.shape}")
    dx = np.empty(dy.shape[:3] + (cin,), dtype=dt)
    fn, name = _fn(lib, "pointwise_conv2d", dt, "input_grad")
    with _path(path, lib):
        check(fn(ptr(ffi, dy), ptr(ffi, w2), ptr(ffi, dx), dy.size // cout, cin, cout), name)
    return dx


def fully_connected_forward(x, w, b=None, *, path=None):
    """y[B, out] = x[B, in] w[out, in]^T + b."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = as_array(x, dt, "x", ndim=2)
    w = as_array(w, dt, "w", shape=(None, x.shape[1]))
    b = _vec(b, dt, "b", w.shape[0])
    y = np.empty((x.shape[0], w.shape[0]), dtype=dt)
    fn, name = _fn(lib, "fully_connected", dt, "forward")
    with _path(path, lib):
        check(fn(ptr(ffi, x), ptr(ffi, w), ptr(ffi, b), ptr(ffi, y), x.shape[0], x.shape[1], w.shape[0]), name)
    return y


def fully_connected_weight_grad(x, dy, *, bias=True, path=None):
    """(dw[out, in], db[out] or None) of a fully connected layer."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = as_array(x, dt, "x", ndim=2)
    dy = as_array(dy, dt, "dy", shape=(x.shape[0], None))
    dw = np.empty((dy.shape[1], x.shape[1]), dtype=dt)
    db = np.empty(dy.shape[1], dtype=dt) if bias else None
    fn, name = _fn(lib, "fully_connected", dt, "weight_grad")
    with _path(path, lib):
        check(fn(ptr(ffi, x), ptr(ffi, dy), ptr(ffi, dw), ptr(ffi, db), x.shape[0], x.shape[1], dy.shape[1]), name)
    return dw, db


def fully_connected_input_grad(dy, w, *, path=None):
    """dx[B, in] = dy[B, out] w[out, in]."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    dy = as_array(dy, dt, "dy", ndim=2)
    w = as_array(w, dt, "w", shape=(dy.shape[1], None))
    dx = np.empty((dy.shape[0], w.shape[1]), dtype=dt)
    fn, name = _fn(lib, "fully_connected", dt, "input_grad")
    with _path(path, lib):
        check(fn(ptr(ffi, dy), ptr(ffi, w), ptr(ffi, dx), dy.shape[0], w.shape[1], w.shape[0]), name)
    return dx


# ----------------------------------------------------------------------------------------------- activations


def _unary(op, pass_, x, name="x"):
    ffi, lib = _lib()
    dt = _kind(x, name)
    x = as_array(x, dt, name)
    if x.size == 0:
        raise ShapeError(f"{name}: empty array")
    y = np.empty_like(x)
    fn, fname = _fn(lib, op, dt, pass_)
    check(fn(ptr(ffi, x), ptr(ffi, y), x.size), fname)
    return y


def _binary_same(op, pass_, y, dy, names=("y", "dy")):
    ffi, lib = _lib()
    dt = _kind(y, names[0])
    y = as_array(y, dt, names[0])
    if y.size == 0:
        raise ShapeError(f"{names[0]}: empty array")
    dy = as_array(dy, dt, names[1], shape=y.shape)
    dx = np.empty_like(dy)
    fn, fname = _fn(lib, op, dt, pass_)
    check(fn(ptr(ffi, y), ptr(ffi, dy), ptr(ffi, dx), y.size), fname)
    return dx


def relu_forward(x):
    """max(x, 0)."""
    return _unary("relu", "forward", x)


def relu_backward(y, dy):
    """dy where the forward OUTPUT y > 0, else 0."""
    return _binary_same("relu", "backward", y, dy)


def relu6_forward(x):
    """min(max(x, 0), 6)."""
    return _unary("relu6", "forward", x)


def relu6_backward(y, dy):
    """dy where 0 < y < 6 (y = forward output), else 0."""
    return _binary_same("relu6", "backward", y, dy)


def _forward_mask(op, x):
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = as_array(x, dt, "x")
    if x.size == 0:
        raise ShapeError("x: empty array")
    y = np.empty_like(x)
    mask = np.empty(lib.odl_relu_mask_size(x.size), dtype=np.uint8)
    fn, name = _fn(lib, op, dt, "forward_mask")
    check(fn(ptr(ffi, x), ptr(ffi, y), ptr(ffi, mask), x.size), name)
    return y, mask


def relu_forward_mask(x):
    """(relu(x), packed 1-bit mask of x > 0: uint8[(n + 7) // 8], LSB first)."""
    return _forward_mask("relu", x)


def relu6_forward_mask(x):
    """(relu6(x), packed 1-bit mask of 0 < x < 6)."""
    return _forward_mask("relu6", x)


def relu_mask_backward(mask, dy):
    """relu/relu6 backward from the packed mask: dy where the bit is set, else 0."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    dy = as_array(dy, dt, "dy")
    if dy.size == 0:
        raise ShapeError("dy: empty array")
    mask = as_array(mask, np.uint8, "mask", shape=((dy.size + 7) // 8,))
    dx = np.empty_like(dy)
    fn, name = _fn(lib, "relu_mask", dt, "backward")
    check(fn(ptr(ffi, mask), ptr(ffi, dy), ptr(ffi, dx), dy.size), name)
    return dx


# ----------------------------------------------------------------------------------------------- pools, add


def _pool(op, pass_, x_shape, pool, stride, padding, arrays, out_shape, dt, path=None):
    ffi, lib = _lib()
    win = _window(ffi, lib, x_shape, pool, stride, 1, padding)
    out = np.empty(out_shape(win), dtype=dt)
    fn, name = _fn(lib, op, dt, pass_)
    check(fn(_dims(ffi, x_shape), win, *[ptr(ffi, a) for a in arrays], ptr(ffi, out)), name)
    return out


def _pool_out(x_shape):
    return lambda win: (x_shape[0], win.out_h, win.out_w, x_shape[3])


def _pool_dy(dy, dt, x_shape, pool, stride, padding):
    ffi, lib = _lib()
    win = _window(ffi, lib, x_shape, pool, stride, 1, padding)
    return as_array(dy, dt, "dy", shape=(x_shape[0], win.out_h, win.out_w, x_shape[3]))


def avg_pool2d_forward(x, *, pool, stride=None, padding="valid"):
    """Average pool (TFLite: divides by the in-bounds tap count). stride defaults to pool."""
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    stride = pool if stride is None else stride
    return _pool("avg_pool2d", "forward", x.shape, pool, stride, padding, [x], _pool_out(x.shape), dt)


def avg_pool2d_backward(dy, *, x_shape, pool, stride=None, padding="valid"):
    """dx of an average pool."""
    dt = _kind(dy, "dy")
    x_shape = tuple(int(s) for s in x_shape)
    stride = pool if stride is None else stride
    dy = _pool_dy(dy, dt, x_shape, pool, stride, padding)
    return _pool("avg_pool2d", "backward", x_shape, pool, stride, padding, [dy], lambda win: x_shape, dt)


def max_pool2d_forward(x, *, pool, stride=None, padding="valid"):
    """Max pool (padded taps ignored). stride defaults to pool."""
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    stride = pool if stride is None else stride
    return _pool("max_pool2d", "forward", x.shape, pool, stride, padding, [x], _pool_out(x.shape), dt)


def max_pool2d_backward(x, dy, *, pool, stride=None, padding="valid"):
    """dx of a max pool: each dy goes to the first maximal tap of its window (recomputed from x)."""
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    stride = pool if stride is None else stride
    dy = _pool_dy(dy, dt, x.shape, pool, stride, padding)
    return _pool("max_pool2d", "backward", x.shape, pool, stride, padding, [x, dy], lambda win: x.shape, dt)


def global_avg_pool_forward(x):
    """y[N, C] = mean over H, W."""
    ffi, lib = _lib()
    dt = _kind(x, "x")
    x = _nhwc(x, dt, "x")
    y = np.empty((x.shape[0], x.shape[3]), dtype=dt)
    fn, name = _fn(lib, "global_avg_pool", dt, "forward")
    check(fn(_dims(ffi, x.shape), ptr(ffi, x), ptr(ffi, y)), name)
    return y


def global_avg_pool_backward(dy, *, x_shape):
    """dx[N, H, W, C] = dy[N, C] / (H*W)."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4 or min(x_shape) <= 0:
        raise ShapeError(f"x_shape: expected a positive NHWC shape, got {x_shape}")
    dy = as_array(dy, dt, "dy", shape=(x_shape[0], x_shape[3]))
    dx = np.empty(x_shape, dtype=dt)
    fn, name = _fn(lib, "global_avg_pool", dt, "backward")
    check(fn(_dims(ffi, x_shape), ptr(ffi, dy), ptr(ffi, dx)), name)
    return dx


def add_forward(a, b):
    """a + b (same shape and dtype)."""
    ffi, lib = _lib()
    dt = _kind(a, "a")
    a = as_array(a, dt, "a")
    if a.size == 0:
        raise ShapeError("a: empty array")
    b = as_array(b, dt, "b", shape=a.shape)
    y = np.empty_like(a)
    fn, name = _fn(lib, "add", dt, "forward")
    check(fn(ptr(ffi, a), ptr(ffi, b), ptr(ffi, y), a.size), name)
    return y


def add_backward(dy):
    """(da, db) = (dy, dy)."""
    ffi, lib = _lib()
    dt = _kind(dy, "dy")
    dy = as_array(dy, dt, "dy")
    if dy.size == 0:
        raise ShapeError("dy: empty array")
    da, db = np.empty_like(dy), np.empty_like(dy)
    fn, name = _fn(lib, "add", dt, "backward")
    check(fn(ptr(ffi, dy), ptr(ffi, da), ptr(ffi, db), dy.size), name)
    return da, db


# ----------------------------------------------------------------------------------------------- loss, SGD


def softmax_cross_entropy(logits, label: int):
    """(loss as float, dlogits = softmax - onehot) of one sample; logits is 1-D."""
    ffi, lib = _lib()
    dt = _kind(logits, "logits")
    logits = as_array(logits, dt, "logits", ndim=1)
    n = logits.shape[0]
    if n == 0:
        raise ShapeError("logits: empty array")
    if not isinstance(label, (int, np.integer)) or not 0 <= int(label) < n:
        raise OdlError(f"label: expected an int in [0, {n}), got {label!r}")
    loss = ffi.new("float *")
    d = np.empty_like(logits)
    fn, name = _fn(lib, "softmax_cross_entropy", dt)
    check(fn(ptr(ffi, logits), n, int(label), loss, ptr(ffi, d)), name)
    return float(loss[0]), d


def _inplace(a, dt, name, shape):
    if not isinstance(a, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy array updated in place, got {type(a).__name__}")
    if a.dtype != dt:
        raise DTypeError(f"{name}: expected dtype {np.dtype(dt)}, got {a.dtype}")
    if a.shape != shape:
        raise ShapeError(f"{name}: expected shape {shape}, got {a.shape}")
    if not (a.flags.c_contiguous and a.flags.writeable):
        raise ShapeError(f"{name}: must be a writeable C-contiguous array (it is updated in place)")
    return a


def sgd_update(w, g, buf=None, *, lr, momentum=0.0, weight_decay=0.0, master=None):
    """One in-place SGD step (torch.optim.SGD semantics): d = g + wd*w; buf = momentum*buf + d; w -= lr*buf.

    float32 w: buf float32 (None allowed when momentum == 0). float16 w: buf float16, or with ``master`` (the
    FP32 master weights, updated in place, then rounded into w) buf is float32. Returns w.
    """
    ffi, lib = _lib()
    dt = _kind(w, "w")
    w = _inplace(w, dt, "w", np.shape(w))
    if w.size == 0:
        raise ShapeError("w: empty array")
    g = as_array(g, dt, "g", shape=w.shape)
    if master is not None and dt != np.float16:
        raise DTypeError("master: only float16 weights take an FP32 master copy")
    buf_dt = np.float32 if master is not None else dt
    if buf is None:
        if momentum != 0.0:
            raise OdlError("sgd_update: momentum != 0 needs a momentum buffer (zeros at the first step)")
    else:
        buf = _inplace(buf, np.dtype(buf_dt), "buf", w.shape)
    if master is not None:
        master = _inplace(master, np.dtype(np.float32), "master", w.shape)
        st = lib.odl_sgd_f16_update_master(ptr(ffi, w), ptr(ffi, master), ptr(ffi, g), ptr(ffi, buf), w.size,
                                           float(lr), float(momentum), float(weight_decay))
        check(st, "odl_sgd_f16_update_master")
    else:
        fn, name = _fn(lib, "sgd", dt, "update")
        check(fn(ptr(ffi, w), ptr(ffi, g), ptr(ffi, buf), w.size, float(lr), float(momentum), float(weight_decay)),
              name)
    return w
