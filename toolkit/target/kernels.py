"""The kernels the firmware's kernel service runs (firmware/kernel_service.c): slots, parameter words, MACs, random
inputs, and the host reference (the reference C through cffi, path ``reference``) that gives the expected outputs.

A kernel is called with a ``params`` dict of user-level shape parameters, e.g. for ``conv2d_s8_forward``
``{"h": 16, "w": 16, "c": 16, "out_c": 16, "k": 3, "stride": 1, "padding": "same"}``; :func:`normalize` fills the
defaults. ``words(spec, params)`` gives the i32 words of RUN_KERNEL and ``slot_shapes`` the shape of every slot, so
the target and the host reference get exactly the same call.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

from toolkit.errors import OdlError

N_SLOTS = 8
N_WORDS = 28

I8, I32, F32, F16 = np.dtype(np.int8), np.dtype(np.int32), np.dtype(np.float32), np.dtype(np.float16)
LAYOUTS = {"nt": 0, "nn": 1, "tn": 2}


@dataclass(frozen=True)
class Slot:
    name: str
    dtype: np.dtype
    role: str  # "in", "out" or "inout"


@dataclass(frozen=True)
class KernelSpec:
    name: str
    code: int
    dtype: str  # int8 / fp16 / fp32 (the arithmetic of the layer)
    pass_: str  # forward / weight_grad / input_grad
    family: str  # matmul_s8, matmul_f, conv_s8, dw_s8, fc_s8, conv_f, dw_f, s8_input_grad, s8_weight_grad
    slots: tuple[Slot, ...]
    fdtype: np.dtype | None = None  # element type of a float kernel

    @property
    def inputs(self) -> list[str]:
        return [s.name for s in self.slots if s.role in ("in", "inout")]

    @property
    def outputs(self) -> list[str]:
        return [s.name for s in self.slots if s.role in ("out", "inout")]


def _s(name, dt, role="in"):
    return Slot(name, np.dtype(dt), role)


_S8_SLOTS = (_s("input", I8), _s("filter", I8), _s("bias", I32), _s("multiplier", I32), _s("shift", I32),
             _s("output", I8, "out"))


def _conv_f_slots(pass_, dt):
    if pass_ == "forward":
        return (_s("x", dt), _s("w", dt), _s("bias", dt), _s("y", dt, "out"))
    if pass_ == "weight_grad":
        return (_s("x", dt), _s("dy", dt), _s("dw", dt, "out"), _s("db", dt, "out"))
    return (_s("dy", dt), _s("w", dt), _s("dx", dt, "out"))


def _build_specs() -> dict[str, KernelSpec]:
    specs = [
        KernelSpec("matmul_s8", 1, "int8", "forward", "matmul_s8",
                   (_s("a", I8), _s("b", I8), _s("bias", I32), _s("multiplier", I32), _s("shift", I32),
                    _s("out", I8, "out"))),
        KernelSpec("matmul_f32", 2, "fp32", "forward", "matmul_f", (_s("a", F32), _s("b", F32), _s("c", F32, "inout")),
                   F32),
        KernelSpec("matmul_f16", 3, "fp16", "forward", "matmul_f", (_s("a", F16), _s("b", F16), _s("c", F16, "inout")),
                   F16),
        KernelSpec("conv2d_s8_forward", 4, "int8", "forward", "conv_s8", _S8_SLOTS),
        KernelSpec("depthwise_conv2d_s8_forward", 5, "int8", "forward", "dw_s8", _S8_SLOTS),
        KernelSpec("fully_connected_s8_forward", 6, "int8", "forward", "fc_s8", _S8_SLOTS),
    ]
    code = 7
    for dt, tag in ((F32, "f32"), (F16, "f16")):
        for p in ("forward", "weight_grad", "input_grad"):
            specs.append(KernelSpec(f"conv2d_{tag}_{p}", code, "fp32" if dt == F32 else "fp16", p, "conv_f",
                                    _conv_f_slots(p, dt), dt))
            code += 1
    for p in ("forward", "weight_grad", "input_grad"):
        specs.append(KernelSpec(f"depthwise_conv2d_f16_{p}", code, "fp16", p, "dw_f", _conv_f_slots(p, F16), F16))
        code += 1
    specs.append(KernelSpec("conv2d_s8_input_grad_f32", 16, "int8", "input_grad", "s8_input_grad",
                            (_s("dy", F32), _s("w_q", I8), _s("w_scale", F32), _s("dx", F32, "out"))))
    specs.append(KernelSpec("conv2d_s8_weight_grad_f32", 17, "int8", "weight_grad", "s8_weight_grad",
                            (_s("dy", F32), _s("x_q", I8), _s("w_scale", F32), _s("channels", I32),
                             _s("dw_q", F32, "out"), _s("db_q", F32, "out"))))
    return {s.name: s for s in specs}


KERNELS: dict[str, KernelSpec] = _build_specs()


def spec_of(kernel: str) -> KernelSpec:
    try:
        return KERNELS[kernel]
    except KeyError:
        raise OdlError(f"unknown target kernel {kernel!r}; choose from {', '.join(KERNELS)}") from None


# ---- parameters ---------------------------------------------------------------------------------------------------

_DEFAULTS = {
    "matmul_s8": dict(m=4, n=4, k=8, a_offset=0, per_channel=1, output_offset=0, act_min=-128, act_max=127, bias=True),
    "matmul_f": dict(layout="nt", m=4, n=4, k=8, accumulate=0),
    "conv": dict(n=1, h=8, w=8, c=4, out_c=4, k=3, stride=1, dilation=1, padding="same", bias=True),
    "s8q": dict(input_offset=0, per_channel=1, output_offset=0, act_min=-128, act_max=127),
    "fc_s8": dict(batch=1, n=8, k=16, bias=True),
}


def normalize(spec: KernelSpec, params: dict) -> dict:
    """User parameters with defaults filled in (unknown keys are refused)."""
    f = spec.family
    if f == "matmul_s8":
        base = dict(_DEFAULTS["matmul_s8"])
    elif f == "matmul_f":
        base = dict(_DEFAULTS["matmul_f"])
    elif f == "fc_s8":
        base = {**_DEFAULTS["fc_s8"], **_DEFAULTS["s8q"]}
    elif f in ("conv_s8", "dw_s8"):
        base = {**_DEFAULTS["conv"], **_DEFAULTS["s8q"], "depth_multiplier": 1, "block_rows": 0}
        if f == "dw_s8":
            base.pop("out_c")
            base.pop("block_rows")
    else:
        base = dict(_DEFAULTS["conv"])
        if f == "dw_f":
            base.pop("out_c")
        if f == "s8_weight_grad":
            base.update(x_scale=0.05, x_zero_point=0, count=None)
        if f in ("s8_input_grad",):
            base.pop("bias")
    unknown = set(params) - set(base)
    if unknown:
        raise OdlError(f"{spec.name}: unknown parameters {sorted(unknown)}; known: {sorted(base)}")
    base.update(params)
    if f == "s8_weight_grad" and base["count"] is None:
        base["count"] = base["out_c"]
    return base


def _lib():
    from toolkit.host import get_lib

    return get_lib()


def _window(p: dict) -> dict:
    ffi, lib = _lib()
    win = ffi.new("odl_window *")
    pad = {"valid": 0, "same": 1}[str(p["padding"]).lower()]
    st = lib.odl_conv_geometry(p["h"], p["w"], p["k"], p["k"], p["stride"], p["stride"], p["dilation"], p["dilation"],
                               pad, win)
    if st != 0:
        raise OdlError(f"bad convolution geometry {p}")
    return {f: getattr(win, f) for f in ("kernel_h", "kernel_w", "stride_h", "stride_w", "dilation_h", "dilation_w",
                                         "pad_top", "pad_left", "out_h", "out_w")} | {"padding": pad}


def _convf_words(p: dict, out_c: int) -> list[int]:
    w = _window(p)
    return [p["n"], p["h"], p["w"], p["c"], out_c, w["kernel_h"], w["kernel_w"], w["stride_h"], w["stride_w"],
            w["dilation_h"], w["dilation_w"], w["pad_top"], w["pad_left"], w["out_h"], w["out_w"]]


def _convf_struct(ffi, words: list[int]):
    cp = ffi.new("odl_conv_f_params *")
    setattr(cp, "in", (words[0], words[1], words[2], words[3]))  # the field is named `in`
    cp.out_c = words[4]
    names = ("kernel_h", "kernel_w", "stride_h", "stride_w", "dilation_h", "dilation_w", "pad_top", "pad_left",
             "out_h", "out_w")
    for i, n in enumerate(names):
        setattr(cp.win, n, words[5 + i])
    return cp


def _f32_bits(x: float) -> int:
    return struct.unpack("<i", struct.pack("<f", float(x)))[0]


def _scratch_conv_f(spec: KernelSpec, words: list[int]) -> int:
    ffi, lib = _lib()
    cp = _convf_struct(ffi, words)
    tag = "f32" if spec.fdtype == F32 else "f16"
    return int(getattr(lib, f"odl_conv2d_{tag}_{spec.pass_}_scratch_size")(cp))


def words(spec: KernelSpec, params: dict) -> list[int]:
    """The i32 parameter words of RUN_KERNEL (layout documented in firmware/kernel_service.c)."""
    p = normalize(spec, params)
    f = spec.family
    if f == "matmul_s8":
        w = [p["m"], p["n"], p["k"], p["a_offset"], int(p["per_channel"]), p["output_offset"], p["act_min"],
             p["act_max"], int(bool(p["bias"]))]
    elif f == "matmul_f":
        w = [LAYOUTS[p["layout"]], p["m"], p["n"], p["k"], int(p["accumulate"])]
    elif f == "fc_s8":
        w = [p["batch"], p["n"], p["k"], p["input_offset"], int(p["per_channel"]), p["output_offset"], p["act_min"],
             p["act_max"], int(bool(p["bias"]))]
    elif f in ("conv_s8", "dw_s8"):
        win = _window(p)
        second = p["out_c"] if f == "conv_s8" else p["depth_multiplier"]
        w = [p["n"], p["h"], p["w"], p["c"], second, p["k"], p["k"], p["stride"], p["stride"], p["dilation"],
             p["dilation"], win["padding"], p["input_offset"], int(p["per_channel"]), p["output_offset"], p["act_min"],
             p["act_max"], int(bool(p["bias"])), win["out_h"], win["out_w"]]
        if f == "conv_s8":
            ffi, lib = _lib()
            rows = p["block_rows"] or win["out_h"] * win["out_w"]
            w.append(int(lib.odl_conv2d_s8_scratch_size(rows, p["k"], p["k"], p["c"])))
    elif f in ("conv_f", "dw_f"):
        out_c = p["out_c"] if f == "conv_f" else p["c"]
        w = _convf_words(p, out_c)
        w.append(int(bool(p["bias"])))
        w.append(_scratch_conv_f(spec, w) if f == "conv_f" else 0)
    elif f == "s8_input_grad":
        w = _convf_words(p, p["out_c"])
        ffi, lib = _lib()
        cp = _convf_struct(ffi, w)
        w += [0, int(lib.odl_conv2d_s8_input_grad_f32_scratch_size(ffi.addressof(cp, "in"), cp.out_c,
                                                                    ffi.addressof(cp, "win")))]
    elif f == "s8_weight_grad":
        w = _convf_words(p, p["out_c"])
        ffi, lib = _lib()
        cp = _convf_struct(ffi, w)
        sb = int(lib.odl_conv2d_s8_weight_grad_f32_scratch_size(ffi.addressof(cp, "in"), ffi.addressof(cp, "win"),
                                                                 p["count"]))
        w += [int(bool(p["bias"])), sb, _f32_bits(p["x_scale"]), p["x_zero_point"], p["count"]]
    else:  # pragma: no cover
        raise OdlError(f"no words for {spec.name}")
    if len(w) > N_WORDS:  # pragma: no cover
        raise OdlError("too many parameter words")
    return w + [0] * (N_WORDS - len(w))


def scratch_bytes(spec: KernelSpec, w: list[int]) -> int:
    f = spec.family
    if f == "conv_s8":
        return w[20]
    if f in ("conv_f", "s8_input_grad", "s8_weight_grad"):
        return w[16]
    return 0


def slot_shapes(spec: KernelSpec, params: dict) -> dict[str, tuple]:
    """Shape of each slot (absent slots are not used by this call)."""
    p = normalize(spec, params)
    f = spec.family
    if f == "matmul_s8":
        nq = p["n"] if p["per_channel"] else 1
        s = {"a": (p["m"], p["k"]), "b": (p["n"], p["k"]), "multiplier": (nq,), "shift": (nq,), "out": (p["m"], p["n"])}
        if p["bias"]:
            s["bias"] = (p["n"],)
        return s
    if f == "matmul_f":
        m, n, k = p["m"], p["n"], p["k"]
        a, b = {"nt": ((m, k), (n, k)), "nn": ((m, k), (k, n)), "tn": ((k, m), (k, n))}[p["layout"]]
        return {"a": a, "b": b, "c": (m, n)}
    if f == "fc_s8":
        nq = p["n"] if p["per_channel"] else 1
        s = {"input": (p["batch"], p["k"]), "filter": (p["n"], p["k"]), "multiplier": (nq,), "shift": (nq,),
             "output": (p["batch"], p["n"])}
        if p["bias"]:
            s["bias"] = (p["n"],)
        return s
    win = _window(p)
    oh, ow = win["out_h"], win["out_w"]
    n, h, w_, c, k = p["n"], p["h"], p["w"], p["c"], p["k"]
    if f in ("conv_s8", "dw_s8"):
        oc = p["out_c"] if f == "conv_s8" else c * p["depth_multiplier"]
        nq = oc if p["per_channel"] else 1
        s = {"input": (n, h, w_, c), "filter": (oc, k, k, c) if f == "conv_s8" else (1, k, k, oc),
             "multiplier": (nq,), "shift": (nq,), "output": (n, oh, ow, oc)}
        if p["bias"]:
            s["bias"] = (oc,)
        return s
    oc = p["out_c"] if f != "dw_f" else c
    wshape = (oc, k, k, c) if f != "dw_f" else (1, k, k, c)
    x, y = (n, h, w_, c), (n, oh, ow, oc)
    if f in ("conv_f", "dw_f"):
        if spec.pass_ == "forward":
            s = {"x": x, "w": wshape, "y": y}
            if p["bias"]:
                s["bias"] = (oc,)
        elif spec.pass_ == "weight_grad":
            s = {"x": x, "dy": y, "dw": wshape}
            if p["bias"]:
                s["db"] = (oc,)
        else:
            s = {"dy": y, "w": wshape, "dx": x}
        return s
    if f == "s8_input_grad":
        return {"dy": y, "w_q": wshape, "w_scale": (oc,), "dx": x}
    cnt = p["count"]
    s = {"dy": y, "x_q": x, "w_scale": (oc,), "channels": (cnt,), "dw_q": (cnt, k * k * c)}
    if p["bias"]:
        s["db_q"] = (cnt,)
    return s


def macs(spec: KernelSpec, params: dict) -> int:
    """Multiply-accumulates of one call (padding taps included, as CMSIS-NN's figures count them)."""
    p = normalize(spec, params)
    f = spec.family
    if f in ("matmul_s8", "matmul_f"):
        return p["m"] * p["n"] * p["k"]
    if f == "fc_s8":
        return p["batch"] * p["n"] * p["k"]
    win = _window(p)
    pix = p["n"] * win["out_h"] * win["out_w"]
    taps = p["k"] * p["k"]
    if f == "dw_s8":
        return pix * p["c"] * p.get("depth_multiplier", 1) * taps
    if f == "dw_f":
        return pix * p["c"] * taps
    oc = p["count"] if f == "s8_weight_grad" else p["out_c"]
    return pix * oc * taps * p["c"]


# ---- random inputs ------------------------------------------------------------------------------------------------

def make_inputs(spec: KernelSpec, params: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random, valid inputs for one call (TFLite-like requantization parameters for the int8 kernels)."""
    shapes = slot_shapes(spec, params)
    p = normalize(spec, params)
    out = {}
    for s in spec.slots:
        if s.role == "out" or s.name not in shapes:
            continue
        shp = shapes[s.name]
        if s.name == "multiplier":
            out[s.name] = rng.integers(1 << 30, (1 << 31) - 1, size=shp, dtype=np.int64).astype(np.int32)
        elif s.name == "shift":
            out[s.name] = rng.integers(-10, -4, size=shp).astype(np.int32)
        elif s.name == "bias":
            if s.dtype == I32:
                out[s.name] = rng.integers(-2000, 2000, size=shp).astype(np.int32)
            else:
                out[s.name] = rng.standard_normal(shp).astype(s.dtype)
        elif s.name == "channels":
            out[s.name] = np.sort(rng.choice(p["out_c"], size=shp[0], replace=False)).astype(np.int32)
        elif s.name == "w_scale":
            out[s.name] = rng.uniform(0.002, 0.02, size=shp).astype(np.float32)
        elif s.dtype == I8:
            out[s.name] = rng.integers(-128, 128, size=shp).astype(np.int8)
        elif s.name == "c" and not p.get("accumulate", 0):
            out[s.name] = np.zeros(shp, s.dtype)
        else:
            out[s.name] = rng.standard_normal(shp).astype(s.dtype)
    return out


# ---- host reference -----------------------------------------------------------------------------------------------

POISON = 0xA5


def _alloc(spec: KernelSpec, params: dict, inputs: dict) -> dict[str, np.ndarray]:
    shapes = slot_shapes(spec, params)
    arrs = {}
    for s in spec.slots:
        if s.name not in shapes:
            continue
        if s.role in ("in", "inout"):
            if s.name not in inputs:
                raise OdlError(f"{spec.name}: missing input {s.name!r}")
            a = np.ascontiguousarray(np.asarray(inputs[s.name]))
            if a.dtype != s.dtype or a.shape != tuple(shapes[s.name]):
                raise OdlError(f"{spec.name}: input {s.name!r} must be {s.dtype} {tuple(shapes[s.name])}, "
                               f"got {a.dtype} {a.shape}")
            arrs[s.name] = a.copy()
        else:
            n = int(np.prod(shapes[s.name])) * s.dtype.itemsize
            arrs[s.name] = np.frombuffer(bytes([POISON]) * n, dtype=s.dtype).reshape(shapes[s.name]).copy()
    return arrs


def reference(kernel: str, inputs: dict, params: dict, path: str = "reference") -> dict[str, np.ndarray]:
    """Outputs of one call computed on the host by the C kernels (the reference path by default), on the same
    parameter words and scratch size as the target gets."""
    from toolkit.host import use_path
    from toolkit.host.arrays import STATUS

    spec = spec_of(kernel)
    ffi, lib = _lib()
    arrs = _alloc(spec, params, inputs)
    w = words(spec, params)
    sb = scratch_bytes(spec, w)
    scratch = np.zeros(max(sb, 16), np.uint8)

    def P(name, ctype):
        if name not in arrs:
            return ffi.NULL
        return ffi.cast(ctype + " *", ffi.from_buffer(arrs[name]))

    scr = ffi.cast("void *", ffi.from_buffer(scratch)) if sb else ffi.NULL
    f = spec.family
    with use_path(path, lib):
        if f == "matmul_s8":
            q = ffi.new("odl_requant *", {"multiplier": P("multiplier", "int32_t"), "shift": P("shift", "int32_t"),
                                          "per_channel": w[4]})
            o = ffi.new("odl_output_s8 *", {"output_offset": w[5], "act_min": w[6], "act_max": w[7]})
            st = lib.odl_matmul_s8(P("a", "int8_t"), P("b", "int8_t"), P("bias", "int32_t") if w[8] else ffi.NULL,
                                   w[0], w[1], w[2], w[3], q, o, P("out", "int8_t"))
        elif f == "matmul_f":
            fn, ct = (lib.odl_matmul_f32, "float") if spec.fdtype == F32 else (lib.odl_matmul_f16, "odl_f16")
            st = fn(w[0], P("a", ct), P("b", ct), P("c", ct), w[1], w[2], w[3], w[4])
        elif f == "fc_s8":
            q = ffi.new("odl_requant *", {"multiplier": P("multiplier", "int32_t"), "shift": P("shift", "int32_t"),
                                          "per_channel": w[4]})
            o = ffi.new("odl_output_s8 *", {"output_offset": w[5], "act_min": w[6], "act_max": w[7]})
            st = lib.odl_fully_connected_s8_forward(P("input", "int8_t"), P("filter", "int8_t"),
                                                    P("bias", "int32_t") if w[8] else ffi.NULL, w[0], w[1], w[2],
                                                    w[3], q, o, P("output", "int8_t"))
        elif f in ("conv_s8", "dw_s8"):
            ind = ffi.new("odl_dims *", (w[0], w[1], w[2], w[3]))
            cp = ffi.new("odl_conv_s8_params *", {"stride_h": w[7], "stride_w": w[8], "dilation_h": w[9],
                                                  "dilation_w": w[10], "padding": w[11], "input_offset": w[12]})
            q = ffi.new("odl_requant *", {"multiplier": P("multiplier", "int32_t"), "shift": P("shift", "int32_t"),
                                          "per_channel": w[13]})
            o = ffi.new("odl_output_s8 *", {"output_offset": w[14], "act_min": w[15], "act_max": w[16]})
            bias = P("bias", "int32_t") if w[17] else ffi.NULL
            if f == "conv_s8":
                outd = ffi.new("odl_dims *", (w[0], w[18], w[19], w[4]))
                st = lib.odl_conv2d_s8_forward(P("input", "int8_t"), ind, P("filter", "int8_t"), w[4], w[5], w[6],
                                               bias, cp, q, o, outd, P("output", "int8_t"),
                                               ffi.cast("int8_t *", scr), w[20])
            else:
                outd = ffi.new("odl_dims *", (w[0], w[18], w[19], w[3] * w[4]))
                st = lib.odl_depthwise_conv2d_s8_forward(P("input", "int8_t"), ind, P("filter", "int8_t"), w[5], w[6],
                                                         w[4], bias, cp, q, o, outd, P("output", "int8_t"))
        elif f in ("conv_f", "dw_f"):
            cp = _convf_struct(ffi, w)
            ct = "float" if spec.fdtype == F32 else "odl_f16"
            tag = "f32" if spec.fdtype == F32 else "f16"
            has_b = w[15]
            if f == "conv_f":
                fn = getattr(lib, f"odl_conv2d_{tag}_{spec.pass_}")
                if spec.pass_ == "forward":
                    st = fn(cp, P("x", ct), P("w", ct), P("bias", ct) if has_b else ffi.NULL, P("y", ct), scr, sb)
                elif spec.pass_ == "weight_grad":
                    st = fn(cp, P("x", ct), P("dy", ct), P("dw", ct), P("db", ct) if has_b else ffi.NULL, scr, sb)
                else:
                    st = fn(cp, P("dy", ct), P("w", ct), P("dx", ct), scr, sb)
            else:
                fn = getattr(lib, f"odl_depthwise_conv2d_f16_{spec.pass_}")
                if spec.pass_ == "forward":
                    st = fn(cp, P("x", ct), P("w", ct), P("bias", ct) if has_b else ffi.NULL, P("y", ct))
                elif spec.pass_ == "weight_grad":
                    st = fn(cp, P("x", ct), P("dy", ct), P("dw", ct), P("db", ct) if has_b else ffi.NULL)
                else:
                    st = fn(cp, P("dy", ct), P("w", ct), P("dx", ct))
        elif f == "s8_input_grad":
            cp = _convf_struct(ffi, w)
            st = lib.odl_conv2d_s8_input_grad_f32(P("dy", "float"), P("w_q", "int8_t"), P("w_scale", "float"),
                                                  cp.out_c, ffi.addressof(cp, "in"), ffi.addressof(cp, "win"),
                                                  P("dx", "float"), scr, sb)
        else:
            cp = _convf_struct(ffi, w)
            x_scale = struct.unpack("<f", struct.pack("<i", w[17]))[0]
            st = lib.odl_conv2d_s8_weight_grad_f32(P("dy", "float"), cp.out_c, P("x_q", "int8_t"), x_scale, w[18],
                                                   ffi.addressof(cp, "in"), ffi.addressof(cp, "win"),
                                                   P("w_scale", "float"), P("channels", "int32_t"), w[19],
                                                   P("dw_q", "float"), P("db_q", "float") if w[15] else ffi.NULL,
                                                   scr, sb)
    if st != 0:
        raise OdlError(f"host reference {kernel} failed with {STATUS.get(st, st)}")
    return {n: arrs[n] for n in spec.outputs if n in arrs}


Checker = Callable[[np.ndarray, np.ndarray], bool]

# Documented tolerances (docs/benchmarks.md): int8 bit-exact; |got - ref| <= tol * max(|ref|, 1) elementwise.
TOLERANCE = {"int8": 0.0, "fp32": 1e-4, "fp16": 3e-2}


def tolerance(spec: KernelSpec) -> float:
    if spec.family in ("s8_input_grad", "s8_weight_grad"):
        return TOLERANCE["fp32"]
    return TOLERANCE[spec.dtype]
