"""int8 inference kernels (TFLite arithmetic, bit-exact) on numpy arrays, through the host build of csrc.

Every function checks shapes and dtypes (ShapeError / DTypeError), returns a new array, and runs the C kernel of
``csrc/kernels/ref/s8_*.c``. ``path`` selects the matmul code path used by conv2d / pointwise / fully connected
(None: the build's default, 'reference' or 'host'); ``single_rounding=True`` runs the TFLITE_SINGLE_ROUNDING build.
Zero points are TFLite's (the C kernels take offsets = -input zero point). ``multiplier``/``shift`` are int32
arrays of length Cout (per channel) or 1 (per tensor), e.g. from toolkit.quant.params.conv_requant_params.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.host import get_lib
from toolkit.host.arrays import as_array, check, ptr
from toolkit.host.arrays import padding_mode as _padding
from toolkit.host.arrays import pair as _pair
from toolkit.host.arrays import path_context
from toolkit.quant import params as qparams

DEFAULT_BLOCK_ROWS = 64  # im2col rows (output pixels) per matmul call in conv2d_s8


def _lib(single_rounding: bool):
    return get_lib(single_rounding=single_rounding)








def _zp(v, name: str) -> int:
    v = int(v)
    if not -128 <= v <= 127:
        raise OdlError(f"{name}: an int8 zero point must be in [-128, 127], got {v}")
    return v


def _clamp(act_min, act_max) -> tuple[int, int]:
    lo, hi = int(act_min), int(act_max)
    if not -128 <= lo <= hi <= 127:
        raise OdlError(f"act_min/act_max must satisfy -128 <= act_min <= act_max <= 127, got {lo}, {hi}")
    return lo, hi


def _int_vec(v, name: str, n: int) -> np.ndarray:
    """multiplier / shift: integers of length n or 1, returned as int32."""
    arr = np.atleast_1d(np.asarray(v))
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{name}: expected an int32 array, got {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] not in (1, n):
        raise ShapeError(f"{name}: expected {n} (per channel) or 1 (per tensor) values, got shape {arr.shape}")
    if np.any(arr < -(2**31)) or np.any(arr >= 2**31):
        raise OdlError(f"{name}: values do not fit int32")
    return np.ascontiguousarray(arr.astype(np.int32))


def _requant(ffi, multiplier, shift, n: int):
    m = _int_vec(multiplier, "multiplier", n)
    s = _int_vec(shift, "shift", n)
    if m.shape != s.shape:
        raise ShapeError(f"multiplier and shift must have the same length, got {m.shape[0]} and {s.shape[0]}")
    q = ffi.new("odl_requant *", {"multiplier": ptr(ffi, m), "shift": ptr(ffi, s), "per_channel": int(m.shape[0] > 1 or n == 1)})
    return q, (m, s)


def _bias(bias, n: int):
    if bias is None:
        return None
    return as_array(bias, np.int32, "bias", shape=(n,))


def _dims(ffi, shape):
    return ffi.new("odl_dims *", [int(s) for s in shape])


def _output(ffi, zp, act_min, act_max):
    lo, hi = _clamp(act_min, act_max)
    return ffi.new("odl_output_s8 *", {"output_offset": _zp(zp, "output_zp"), "act_min": lo, "act_max": hi})


def _geometry(lib, ffi, h, w, kh, kw, stride, dilation, pad):
    win = ffi.new("odl_window *")
    st = lib.odl_conv_geometry(h, w, kh, kw, stride[0], stride[1], dilation[0], dilation[1], pad, win)
    if st != 0:
        raise ShapeError(f"window {kh}x{kw} (stride {stride}, dilation {dilation}) gives no output on a {h}x{w} input")
    return win.out_h, win.out_w


def conv2d_s8(x, w, bias, *, input_zp, output_zp, multiplier, shift, stride=(1, 1), dilation=(1, 1),
              padding="SAME", act_min=-128, act_max=127, path=None, block_rows=DEFAULT_BLOCK_ROWS,
              single_rounding=False):
    """int8 conv2d: x [N,H,W,Cin], w [Cout,KH,KW,Cin] (OHWI), bias int32 [Cout] or None -> [N,OH,OW,Cout]."""
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x", ndim=4)
    w = as_array(w, np.int8, "w", ndim=4)
    n, h, wd, cin = x.shape
    cout, kh, kw, wcin = w.shape
    if wcin != cin:
        raise ShapeError(f"w: expected {cin} input channels (last axis), got shape {w.shape}")
    b = _bias(bias, cout)
    stride, dilation, pad = _pair(stride, "stride"), _pair(dilation, "dilation"), _padding(padding)
    oh, ow = _geometry(lib, ffi, h, wd, kh, kw, stride, dilation, pad)
    q, keep = _requant(ffi, multiplier, shift, cout)
    o = _output(ffi, output_zp, act_min, act_max)
    p = ffi.new("odl_conv_s8_params *", {"stride_h": stride[0], "stride_w": stride[1], "dilation_h": dilation[0],
                                          "dilation_w": dilation[1], "padding": pad,
                                          "input_offset": -_zp(input_zp, "input_zp")})
    out = np.empty((n, oh, ow, cout), np.int8)
    rows = max(1, min(int(block_rows), oh * ow))
    scratch = np.empty(lib.odl_conv2d_s8_scratch_size(rows, kh, kw, cin), np.int8)
    with path_context(path, lib):
        st = lib.odl_conv2d_s8_forward(ptr(ffi, x), _dims(ffi, x.shape), ptr(ffi, w), cout, kh, kw, ptr(ffi, b), p, q,
                                       o, _dims(ffi, out.shape), ptr(ffi, out), ptr(ffi, scratch), scratch.size)
    check(st, "odl_conv2d_s8_forward")
    return out


def depthwise_conv2d_s8(x, w, bias, *, depth_multiplier=1, input_zp, output_zp, multiplier, shift, stride=(1, 1),
                        dilation=(1, 1), padding="SAME", act_min=-128, act_max=127, path=None,
                        single_rounding=False):
    """int8 depthwise conv2d: x [N,H,W,Cin], w [1,KH,KW,Cin*depth_multiplier] -> [N,OH,OW,Cin*depth_multiplier].
    (``path`` is accepted for a uniform API; depthwise does not use the matmul.)"""
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x", ndim=4)
    w = as_array(w, np.int8, "w", ndim=4)
    n, h, wd, cin = x.shape
    mult = int(depth_multiplier)
    if mult <= 0:
        raise OdlError(f"depth_multiplier must be >= 1, got {depth_multiplier}")
    if w.shape[0] != 1 or w.shape[3] != cin * mult:
        raise ShapeError(f"w: expected shape (1, KH, KW, {cin * mult}) for {cin} channels x depth_multiplier {mult}, "
                         f"got {w.shape}")
    _, kh, kw, cout = w.shape
    b = _bias(bias, cout)
    stride, dilation, pad = _pair(stride, "stride"), _pair(dilation, "dilation"), _padding(padding)
    oh, ow = _geometry(lib, ffi, h, wd, kh, kw, stride, dilation, pad)
    q, keep = _requant(ffi, multiplier, shift, cout)
    o = _output(ffi, output_zp, act_min, act_max)
    p = ffi.new("odl_conv_s8_params *", {"stride_h": stride[0], "stride_w": stride[1], "dilation_h": dilation[0],
                                          "dilation_w": dilation[1], "padding": pad,
                                          "input_offset": -_zp(input_zp, "input_zp")})
    out = np.empty((n, oh, ow, cout), np.int8)
    with path_context(path, lib):
        st = lib.odl_depthwise_conv2d_s8_forward(ptr(ffi, x), _dims(ffi, x.shape), ptr(ffi, w), kh, kw, mult,
                                                 ptr(ffi, b), p, q, o, _dims(ffi, out.shape), ptr(ffi, out))
    check(st, "odl_depthwise_conv2d_s8_forward")
    return out


def pointwise_conv2d_s8(x, w, bias, *, input_zp, output_zp, multiplier, shift, act_min=-128, act_max=127,
                        path=None, single_rounding=False):
    """int8 1x1 conv, stride 1: x [N,H,W,Cin], w [Cout,1,1,Cin] -> [N,H,W,Cout]."""
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x", ndim=4)
    w = as_array(w, np.int8, "w", ndim=4)
    cin = x.shape[3]
    if w.shape[1:] != (1, 1, cin):
        raise ShapeError(f"w: expected shape (Cout, 1, 1, {cin}), got {w.shape}")
    cout = w.shape[0]
    b = _bias(bias, cout)
    q, keep = _requant(ffi, multiplier, shift, cout)
    o = _output(ffi, output_zp, act_min, act_max)
    out = np.empty(x.shape[:3] + (cout,), np.int8)
    with path_context(path, lib):
        st = lib.odl_pointwise_conv2d_s8_forward(ptr(ffi, x), _dims(ffi, x.shape), ptr(ffi, w), cout, ptr(ffi, b),
                                                 -_zp(input_zp, "input_zp"), q, o, ptr(ffi, out))
    check(st, "odl_pointwise_conv2d_s8_forward")
    return out


def fully_connected_s8(x, w, bias, *, input_zp, output_zp, multiplier, shift, act_min=-128, act_max=127, path=None,
                       single_rounding=False):
    """int8 fully connected: x [B,K], w [N,K], bias int32 [N] or None -> [B,N] (per-tensor or per-channel)."""
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x", ndim=2)
    w = as_array(w, np.int8, "w", ndim=2)
    bsz, k = x.shape
    if w.shape[1] != k:
        raise ShapeError(f"w: expected shape (N, {k}), got {w.shape}")
    nout = w.shape[0]
    b = _bias(bias, nout)
    q, keep = _requant(ffi, multiplier, shift, nout)
    o = _output(ffi, output_zp, act_min, act_max)
    out = np.empty((bsz, nout), np.int8)
    with path_context(path, lib):
        st = lib.odl_fully_connected_s8_forward(ptr(ffi, x), ptr(ffi, w), ptr(ffi, b), bsz, nout, k,
                                                -_zp(input_zp, "input_zp"), q, o, ptr(ffi, out))
    check(st, "odl_fully_connected_s8_forward")
    return out


def add_s8(a, b, *, a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, act_min=-128, act_max=127,
           single_rounding=False):
    """int8 ADD of two same-shape tensors with TFLite's parameters computed from the scales."""
    ffi, lib = _lib(single_rounding)
    a = as_array(a, np.int8, "a")
    b = as_array(b, np.int8, "b", shape=a.shape)
    if a.size == 0:
        raise ShapeError("a: empty tensor")
    lo, hi = _clamp(act_min, act_max)
    pr = qparams.add_params(a_scale, _zp(a_zp, "a_zp"), b_scale, _zp(b_zp, "b_zp"), out_scale,
                            _zp(out_zp, "out_zp"), single_rounding=single_rounding)
    p = ffi.new("odl_add_s8_params *", dict(vars(pr), act_min=lo, act_max=hi))
    out = np.empty_like(a)
    check(lib.odl_add_s8(ptr(ffi, a), ptr(ffi, b), a.size, p, ptr(ffi, out)), "odl_add_s8")
    return out


def _pool(fn, what, x, pool, stride, padding, act_min, act_max, single_rounding):
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x", ndim=4)
    pool, stride, pad = _pair(pool, "pool"), _pair(stride, "stride"), _padding(padding)
    lo, hi = _clamp(act_min, act_max)
    oh, ow = _geometry(lib, ffi, x.shape[1], x.shape[2], pool[0], pool[1], stride, (1, 1), pad)
    p = ffi.new("odl_pool_s8_params *", {"pool_h": pool[0], "pool_w": pool[1], "stride_h": stride[0],
                                          "stride_w": stride[1], "padding": pad, "act_min": lo, "act_max": hi})
    out = np.empty((x.shape[0], oh, ow, x.shape[3]), np.int8)
    check(getattr(lib, fn)(ptr(ffi, x), _dims(ffi, x.shape), p, _dims(ffi, out.shape), ptr(ffi, out)), what)
    return out


def avg_pool_s8(x, *, pool=(2, 2), stride=(2, 2), padding="VALID", act_min=-128, act_max=127,
                single_rounding=False):
    """int8 average pool (TFLite): x [N,H,W,C] -> [N,OH,OW,C]."""
    return _pool("odl_avg_pool_s8", "odl_avg_pool_s8", x, pool, stride, padding, act_min, act_max, single_rounding)


def max_pool_s8(x, *, pool=(2, 2), stride=(2, 2), padding="VALID", act_min=-128, act_max=127,
                single_rounding=False):
    """int8 max pool (TFLite): x [N,H,W,C] -> [N,OH,OW,C]."""
    return _pool("odl_max_pool_s8", "odl_max_pool_s8", x, pool, stride, padding, act_min, act_max, single_rounding)


def mean_s8(x, *, in_scale, in_zp, out_scale, out_zp, single_rounding=False, legacy_same_quant=False):
    """int8 global mean over H and W, keepdims (TFLite Micro MEAN): x [N,H,W,C] -> [N,1,1,C].
    legacy_same_quant=True reproduces older TFLM releases, which computed a truncating sum / count when input and
    output quantization are equal (current TFLM uses QuantizedMeanOrSum for every case)."""
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x", ndim=4)
    m, s, same = qparams.mean_params(in_scale, _zp(in_zp, "in_zp"), out_scale, _zp(out_zp, "out_zp"),
                                     single_rounding=single_rounding)
    p = ffi.new("odl_mean_s8_params *", {"input_zp": int(in_zp), "output_zp": int(out_zp), "multiplier": m,
                                          "shift": s, "truncating_mean": int(same and legacy_same_quant)})
    out = np.empty((x.shape[0], 1, 1, x.shape[3]), np.int8)
    check(lib.odl_mean_s8(ptr(ffi, x), _dims(ffi, x.shape), p, ptr(ffi, out)), "odl_mean_s8")
    return out


def requantize_s8(x, *, in_scale, in_zp, out_scale, out_zp, single_rounding=False):
    """int8 -> int8 rescale (TFLite QUANTIZE op), any shape."""
    ffi, lib = _lib(single_rounding)
    x = as_array(x, np.int8, "x")
    if x.size == 0:
        raise ShapeError("x: empty tensor")
    m, s = qparams.requantize_params(in_scale, out_scale, single_rounding=single_rounding)
    out = np.empty_like(x)
    check(lib.odl_requantize_s8(ptr(ffi, x), x.size, _zp(in_zp, "in_zp"), _zp(out_zp, "out_zp"), m, s,
                                ptr(ffi, out)), "odl_requantize_s8")
    return out
