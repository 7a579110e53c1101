"""Compile-time autodiff: the loss, one gradient rule per IR op (GRAD), sparse pruning and operator reordering.

Pruning ("filter + dead-code elimination"): a tensor needs a gradient only if a trainable parameter is upstream of it
(``Builder.rg``). Nodes whose output needs no gradient emit nothing; a layer computes its input gradient only if its
input needs one (so the backward stops at the earliest updated layer), a weight gradient only for a trainable weight
slice and a bias gradient only for a trainable bias. Forward values are read by the backward only where a rule
needs them, so nothing before the first updated layer stays alive. In fp modes relu/relu6 backward reads the 1-bit
mask saved by the forward; in int8 the saved int8 output's clamp (odl_act_backward_s8) gives it.

Reordering: with ``reorder=True`` the update of a parameter is emitted right after its gradient (after the layer's
input gradient, which still needs the old weights), so every weight-gradient buffer dies at once; with
``reorder=False`` all updates run after the whole backward and all weight gradients are alive together.
"""

from __future__ import annotations

import numpy as np

from toolkit.train.lower import (Builder, LoweringError, act_range, conv_f_params, dims, is_pointwise,
                                 per_channel_scales, pool_window, qparams, query, scratch_args, window)
from toolkit.train.program import Array, Buf, Float, Int, Null, Step, Struct

# Written argument positions of every kernel a Program may call; READ_WRITE: positions read AND written in place.
WRITES: dict[str, tuple] = {}
READ_WRITE: dict[str, tuple] = {}
for _s in ("f32", "f16"):
    WRITES.update({
        f"odl_conv2d_{_s}_forward": (4,), f"odl_depthwise_conv2d_{_s}_forward": (4,),
        f"odl_pointwise_conv2d_{_s}_forward": (3,), f"odl_fully_connected_{_s}_forward": (3,),
        f"odl_relu_{_s}_forward": (1,), f"odl_relu6_{_s}_forward": (1,),
        f"odl_relu_{_s}_forward_mask": (1, 2), f"odl_relu6_{_s}_forward_mask": (1, 2),
        f"odl_relu_mask_{_s}_backward": (2,),
        f"odl_avg_pool2d_{_s}_forward": (3,), f"odl_max_pool2d_{_s}_forward": (3,),
        f"odl_avg_pool2d_{_s}_backward": (3,), f"odl_max_pool2d_{_s}_backward": (4,),
        f"odl_global_avg_pool_{_s}_forward": (2,), f"odl_global_avg_pool_{_s}_backward": (2,),
        f"odl_add_{_s}_forward": (2,), f"odl_add_{_s}_backward": (1, 2),
        f"odl_conv2d_{_s}_weight_grad": (3, 4), f"odl_conv2d_{_s}_input_grad": (3,),
        f"odl_depthwise_conv2d_{_s}_weight_grad": (3, 4), f"odl_depthwise_conv2d_{_s}_input_grad": (3,),
        f"odl_pointwise_conv2d_{_s}_weight_grad": (2, 3), f"odl_pointwise_conv2d_{_s}_input_grad": (2,),
        f"odl_fully_connected_{_s}_weight_grad": (2, 3), f"odl_fully_connected_{_s}_input_grad": (2,),
        f"odl_bias_grad_{_s}": (3,), f"odl_softmax_cross_entropy_{_s}_label": (3, 4),
        f"odl_sgd_{_s}_update_slice": (0, 2), f"odl_sgd_{_s}_update_slice_packed": (0, 2),
        f"odl_gather_channels_{_s}": (5,),
    })
    READ_WRITE[f"odl_sgd_{_s}_update_slice"] = (0, 2)
    READ_WRITE[f"odl_sgd_{_s}_update_slice_packed"] = (0, 2)
WRITES.update({
    "odl_fully_connected_s8_forward": (9,), "odl_pointwise_conv2d_s8_forward": (8,), "odl_pad_s8": (7,),
    "odl_depthwise_conv2d_s8_forward": (11,), "odl_conv2d_s8_forward": (11,), "odl_avg_pool_s8": (4,),
    "odl_max_pool_s8": (4,), "odl_mean_s8": (3,), "odl_add_s8": (4,), "odl_dequantize_s8_f32": (4,),
    "odl_act_backward_s8": (5,), "odl_conv2d_s8_weight_grad_f32": (10, 11), "odl_conv2d_s8_input_grad_f32": (6,),
    "odl_depthwise_conv2d_s8_weight_grad_f32": (9, 10), "odl_depthwise_conv2d_s8_input_grad_f32": (5,),
    "odl_fully_connected_s8_weight_grad_f32": (10, 11), "odl_fully_connected_s8_input_grad_f32": (6,),
    "odl_bias_grad_s32_f32": (7,), "odl_clamp_s8": (4,),
    "odl_conv2d_s8_forward_window": (9,), "odl_depthwise_conv2d_s8_forward_window": (9,),
    "odl_sgd_qas_update_s8_lr": (0, 9, 10, 11),
    "odl_sgd_qas_update_bias_s32_lr": (0, 7, 8, 9), "odl_lr_cosine_f32": (0, 1),
})
READ_WRITE.update({"odl_sgd_qas_update_s8_lr": (0, 9, 10, 11), "odl_sgd_qas_update_bias_s32_lr": (0, 7, 8, 9),
                   "odl_lr_cosine_f32": (1,)})

ROUNDING = {"nearest": 0, "stochastic": 1, "master": 2}


# ---- helpers ------------------------------------------------------------------------------------------------------
def gdt(b: Builder) -> str:
    """Gradient dtype: float16 in fp16 mode, float32 otherwise (int8 graphs have real-valued FP32 gradients)."""
    return "float16" if b.precision == "fp16" else "float32"


def gsfx(b: Builder) -> str:
    return "f16" if b.precision == "fp16" else "f32"


def grad_target(b: Builder, tensor: str, node: str) -> tuple[str, list]:
    """Buffer to write d(tensor) into, plus the steps that accumulate it when the tensor has several consumers."""
    r = b.r(tensor)
    shape = b.t(r).shape
    if r not in b.grad:
        b.grad[r] = b.add("d_" + r, shape, gdt(b), "arena", "grad")
        return b.grad[r], []
    tmp = b.tmp("d_" + r, shape, gdt(b))
    g = b.grad[r]
    return tmp, [Step(f"odl_add_{gsfx(b)}_forward", [Buf(g), Buf(tmp), Buf(g), Int(b.t(r).size)], "backward", node)]


def _channels_arg(ch: np.ndarray, out_c: int):
    if ch.size == out_c and np.array_equal(ch, np.arange(out_c)):
        return Null()
    return Array("int32_t", tuple(int(c) for c in ch))


def _layout(node, wshape) -> tuple[int, int, int, int]:
    """(out_c, k, channel_stride, elem_stride) of a layer's weight."""
    if node.op == "depthwise_conv2d":
        c = int(wshape[3])
        return c, int(wshape[1] * wshape[2]), 1, c
    oc = int(wshape[0])
    k = int(np.prod(wshape[1:]))
    return oc, k, k, 1


def _state(b: Builder, stem: str, count: int, dtype: str, init=None, kind: str = "momentum") -> str:
    if init is None:
        init = np.zeros(count, dtype)
    return b.add(stem, (count,), dtype, "sram", kind, init=init, tensor_id=True)


def _rng(b: Builder) -> str:
    if "rng" not in b.buffers:
        b.add("rng", (1,), "uint32", "sram", "rng", init=np.array([b.spec.seed], np.uint32), tensor_id=True)
    return "rng"


def _scr(b: Builder, fast: int, minimum: int) -> list:
    return scratch_args(max(minimum, min(fast, b.scratch_cap)))


# ---- updates --------------------------------------------------------------------------------------------------------
def fp_update(b: Builder, node, param: str, grad: str, ch: np.ndarray, bias: bool, packed: bool = False) -> Step:
    t = b.t(param)
    if bias:
        out_c, k, cs, es = int(t.shape[0]), 1, 1, 1
    else:
        out_c, k, cs, es = _layout(node, t.shape)
    sp = b.spec
    mom = Buf(_state(b, f"m_{param}", ch.size * k, gdt(b))) if sp.momentum != 0 else Null()
    return Step(f"odl_sgd_{gsfx(b)}_update_slice" + ("_packed" if packed else ""),
                [Buf(b.value(param)), Buf(grad), mom, Int(k), Int(cs), Int(es), _channels_arg(ch, out_c),
                 Int(ch.size), Buf(b.buffers["lr"].name), Float(float(sp.momentum)), Float(float(sp.weight_decay))],
                "update", node.name)


def s8_state(b: Builder, param: str, init_slice: np.ndarray) -> tuple:
    sp = b.spec
    n = init_slice.size
    mom = Buf(_state(b, f"m_{param}", n, "float32")) if sp.momentum != 0 else Null()
    master = (Buf(_state(b, f"master_{param}", n, "float32", init_slice.astype(np.float32), "master"))
              if sp.rounding == "master" else Null())
    rng = Buf(_rng(b)) if sp.rounding == "stochastic" else Null()
    p = Struct("odl_sgd_params", {"lr": 0.0, "momentum": float(sp.momentum), "weight_decay": float(sp.weight_decay),
                                  "rounding": ROUNDING[sp.rounding]})
    return mom, master, rng, p


def s8_weight_state(b: Builder, node, ch: np.ndarray) -> tuple:
    """Optimizer state of a layer's trainable int8 slice (all its channels; chunks address it by offset)."""
    w = node.inputs[1]
    t = b.t(w)
    out_c, k, cs, es = _layout(node, t.shape)
    flat = np.asarray(t.data).reshape(-1)
    idx = (np.asarray(ch, np.int64)[:, None] * cs + np.arange(k, dtype=np.int64)[None, :] * es).reshape(-1)
    return s8_state(b, w, flat[idx].astype(np.float32))


def s8_weight_update(b: Builder, node, grad: str, ch: np.ndarray, state: tuple, j0: int = 0) -> Step:
    """QAS update of channels ``ch`` (entries j0.. of the layer's trainable slice; grad holds just these)."""
    w = node.inputs[1]
    t = b.t(w)
    out_c, k, cs, es = _layout(node, t.shape)
    mom, master, _rng, p = state
    mom = Buf(mom.name, j0 * k) if isinstance(mom, Buf) else mom
    master = Buf(master.name, j0 * k) if isinstance(master, Buf) else master
    ws = per_channel_scales(t, out_c) if b.spec.qas else (1.0,) * out_c
    return Step("odl_sgd_qas_update_s8_lr",
                [Buf(b.value(w)), Int(out_c), Int(k), Int(cs), Int(es), Array("float", ws), _channels_arg(ch, out_c),
                 Int(ch.size), Buf(grad), mom, master, _rng, p, Buf("lr")], "update", node.name)


def weight_chunks(b: Builder, ch: np.ndarray, k: int) -> list[tuple[int, np.ndarray]]:
    """Split a trainable slice into chunks of channels whose FP32 gradient fits ``b.grad_chunk_bytes`` (with
    reordering; one chunk without). Each chunk's gradient is computed and applied before the next one."""
    if not b.reorder_now or b.grad_chunk_bytes <= 0:
        return [(0, ch)]
    per = max(1, b.grad_chunk_bytes // (4 * k))
    return [(j, ch[j:j + per]) for j in range(0, ch.size, per)]


def s8_bias_update(b: Builder, node, grad: str, ch: np.ndarray) -> Step:
    bias, w = node.inputs[2], node.inputs[1]
    out_c = int(b.t(bias).shape[0])
    init = np.asarray(b.t(bias).data)[ch].astype(np.float32)
    mom, master, rng, p = s8_state(b, bias, init)
    if b.spec.qas:
        ws, sx = per_channel_scales(b.t(w), out_c), qparams(b.t(node.inputs[0]))[0]
    else:
        ws, sx = (1.0,) * out_c, 1.0
    return Step("odl_sgd_qas_update_bias_s32_lr",
                [Buf(b.value(bias)), Int(out_c), Array("float", ws), Float(sx), _channels_arg(ch, out_c),
                 Int(ch.size), Buf(grad), mom, master, rng, p, Buf("lr")], "update", node.name)


# ---- gradient rules -------------------------------------------------------------------------------------------------
# GRAD[op](b, node, dy) -> (backward steps, update steps). dy is the buffer holding d(output), complete.
GRAD: dict = {}


def grad(*ops):
    def deco(fn):
        for op in ops:
            GRAD[op] = fn
        return fn
    return deco


@grad("conv2d", "depthwise_conv2d", "fully_connected")
def grad_layer(b: Builder, node, dy: str) -> tuple[list, list]:
    if b.precision == "int8":
        return grad_layer_s8(b, node, dy)
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    xs, ys, wshape = b.t(x).shape, b.t(y).shape, b.t(w).shape
    s, nm = gsfx(b), node.name
    steps: list = []
    updates: list = []
    act = node.attrs.get("activation", "none")
    if act not in (None, "none"):
        steps.append(Step(f"odl_relu_mask_{s}_backward", [Buf(b.masks[nm]), Buf(dy), Buf(dy), Int(b.t(y).size)],
                          "backward", nm))
    X, W = b.value(x), b.value(w)
    fc, pw = node.op == "fully_connected", is_pointwise(node)
    p = None if fc or pw else Struct("odl_conv_f_params", conv_f_params(node, xs, ys))
    if b.rg.get(x):
        dx, post = grad_target(b, x, nm)
        if fc:
            steps.append(Step(f"odl_fully_connected_{s}_input_grad",
                              [Buf(dy), Buf(W), Buf(dx), Int(1), Int(xs[-1]), Int(ys[-1])], "backward", nm))
        elif pw:
            steps.append(Step(f"odl_pointwise_conv2d_{s}_input_grad",
                              [Buf(dy), Buf(W), Buf(dx), Int(xs[1] * xs[2]), Int(xs[3]), Int(ys[3])], "backward", nm))
        elif node.op == "depthwise_conv2d":
            steps.append(Step(f"odl_depthwise_conv2d_{s}_input_grad", [p, Buf(dy), Buf(W), Buf(dx)], "backward", nm))
        else:
            nb = query(f"odl_conv2d_{s}_input_grad_scratch_size", p)
            steps.append(Step(f"odl_conv2d_{s}_input_grad", [p, Buf(dy), Buf(W), Buf(dx)] + scratch_args(nb),
                              "backward", nm))
        steps += post
    wch = b.rs.weights.get(nm)
    if wch is not None and node.op != "depthwise_conv2d" and wch.size < int(ys[-1]):
        # channel-sparse: gather the selected channels of dY, compute only their weight gradient (packed)
        oc, count = int(ys[-1]), int(wch.size)
        pixels = 1 if fc else int(ys[1] * ys[2])
        k = int(np.prod(wshape[1:]))
        chs = Array("int32_t", tuple(int(c) for c in wch))
        dys = b.tmp(f"dy_{nm}", (pixels, count), gdt(b))
        dw = b.add(f"dw_{nm}", (count, k), gdt(b), "arena", "grad")
        steps.append(Step(f"odl_gather_channels_{s}", [Buf(dy), Int(pixels), Int(oc), chs, Int(count), Buf(dys)],
                          "backward", nm))
        if fc:
            steps.append(Step(f"odl_fully_connected_{s}_weight_grad",
                              [Buf(X), Buf(dys), Buf(dw), Null(), Int(1), Int(xs[-1]), Int(count)], "backward", nm))
        elif pw:
            steps.append(Step(f"odl_pointwise_conv2d_{s}_weight_grad",
                              [Buf(X), Buf(dys), Buf(dw), Null(), Int(pixels), Int(xs[3]), Int(count)], "backward", nm))
        else:
            fields = conv_f_params(node, xs, ys)
            fields["out_c"] = count
            ps = Struct("odl_conv_f_params", fields)
            nb = query(f"odl_conv2d_{s}_weight_grad_scratch_size", ps)
            steps.append(Step(f"odl_conv2d_{s}_weight_grad", [ps, Buf(X), Buf(dys), Buf(dw), Null()] + scratch_args(nb),
                              "backward", nm))
        updates.append(fp_update(b, node, w, dw, wch, bias=False, packed=True))
    elif wch is not None:
        dw = b.add(f"dw_{nm}", wshape, gdt(b), "arena", "grad")
        if fc:
            steps.append(Step(f"odl_fully_connected_{s}_weight_grad",
                              [Buf(X), Buf(dy), Buf(dw), Null(), Int(1), Int(xs[-1]), Int(ys[-1])], "backward", nm))
        elif pw:
            steps.append(Step(f"odl_pointwise_conv2d_{s}_weight_grad",
                              [Buf(X), Buf(dy), Buf(dw), Null(), Int(xs[1] * xs[2]), Int(xs[3]), Int(ys[3])],
                              "backward", nm))
        elif node.op == "depthwise_conv2d":
            steps.append(Step(f"odl_depthwise_conv2d_{s}_weight_grad", [p, Buf(X), Buf(dy), Buf(dw), Null()],
                              "backward", nm))
        else:
            nb = query(f"odl_conv2d_{s}_weight_grad_scratch_size", p)
            steps.append(Step(f"odl_conv2d_{s}_weight_grad", [p, Buf(X), Buf(dy), Buf(dw), Null()] + scratch_args(nb),
                              "backward", nm))
        updates.append(fp_update(b, node, w, dw, wch, bias=False))
    bch = b.rs.biases.get(nm)
    if bch is not None:
        oc = int(ys[-1])
        db = b.add(f"db_{nm}", (oc,), gdt(b), "arena", "grad")
        pixels = 1 if fc else int(ys[1] * ys[2])
        steps.append(Step(f"odl_bias_grad_{s}", [Buf(dy), Int(pixels), Int(oc), Buf(db)], "backward", nm))
        updates.append(fp_update(b, node, node.inputs[2], db, bch, bias=True))
    return steps, updates


def grad_layer_s8(b: Builder, node, dy: str) -> tuple[list, list]:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    tx, tw, ty = b.t(x), b.t(w), b.t(y)
    xs, ys = tx.shape, ty.shape
    nm = node.name
    out_c = int(ys[-1])
    sx, zx = qparams(tx)
    ws = Array("float", per_channel_scales(tw, out_c))
    X, W, Y = b.value(x), b.value(w), b.value(y)
    steps: list = []
    updates: list = []
    act = node.attrs.get("activation", "none")
    if act not in (None, "none"):
        lo, hi = act_range(act, ty)
        steps.append(Step("odl_act_backward_s8", [Buf(Y), Buf(dy), Int(ty.size), Int(lo), Int(hi), Buf(dy)],
                          "backward", nm))
    fc = node.op == "fully_connected"
    ind = None if fc else Struct("odl_dims", dims(xs))
    win = None if fc else Struct("odl_window", window(node, xs, ys))
    if node.op == "depthwise_conv2d" and int(node.attrs.get("depth_multiplier", 1)) != 1:
        raise LoweringError(f"node {nm}: depthwise depth_multiplier != 1 is not supported for training")
    if b.rg.get(x):
        dx, post = grad_target(b, x, nm)
        if fc:
            k = int(xs[-1])
            sc = _scr(b, query("odl_fully_connected_s8_input_grad_f32_scratch_size", 1, k, out_c),
                      query("odl_fully_connected_s8_input_grad_f32_scratch_size_min", 1, k, out_c))
            steps.append(Step("odl_fully_connected_s8_input_grad_f32",
                              [Buf(dy), Int(1), Buf(W), ws, Int(k), Int(out_c), Buf(dx)] + sc, "backward", nm))
        elif node.op == "depthwise_conv2d":
            steps.append(Step("odl_depthwise_conv2d_s8_input_grad_f32", [Buf(dy), Buf(W), ws, ind, win, Buf(dx)],
                              "backward", nm))
        else:
            sc = _scr(b, query("odl_conv2d_s8_input_grad_f32_scratch_size", ind, out_c, win),
                      query("odl_conv2d_s8_input_grad_f32_scratch_size_min", ind, out_c, win))
            steps.append(Step("odl_conv2d_s8_input_grad_f32", [Buf(dy), Buf(W), ws, Int(out_c), ind, win, Buf(dx)] + sc,
                              "backward", nm))
        steps += post
    wch = b.rs.weights.get(nm)
    if wch is not None:
        _, k, _, _ = _layout(node, tw.shape)
        chunks = weight_chunks(b, wch, k)
        rows = max(c.size for _, c in chunks)
        dw = b.add(f"dw_{nm}", (rows, k), "float32", "arena", "grad")
        state = s8_weight_state(b, node, wch)
        for j0, cc in chunks:
            count = int(cc.size)
            ch = _channels_arg(cc, out_c)
            if fc:
                kin = int(xs[-1])
                sc = _scr(b, query("odl_fully_connected_s8_weight_grad_f32_scratch_size", 1, kin, count),
                          query("odl_fully_connected_s8_weight_grad_f32_scratch_size_min", 1, kin, count))
                steps.append(Step("odl_fully_connected_s8_weight_grad_f32",
                                  [Buf(dy), Int(1), Int(out_c), Buf(X), Float(sx), Int(zx), Int(kin), ws, ch,
                                   Int(count), Buf(dw), Null()] + sc, "backward", nm))
            elif node.op == "depthwise_conv2d":
                steps.append(Step("odl_depthwise_conv2d_s8_weight_grad_f32",
                                  [Buf(dy), Buf(X), Float(sx), Int(zx), ind, win, ws, ch, Int(count), Buf(dw), Null()],
                                  "backward", nm))
            else:
                sc = _scr(b, query("odl_conv2d_s8_weight_grad_f32_scratch_size", ind, win, count),
                          query("odl_conv2d_s8_weight_grad_f32_scratch_size_min", ind, win, count))
                steps.append(Step("odl_conv2d_s8_weight_grad_f32",
                                  [Buf(dy), Int(out_c), Buf(X), Float(sx), Int(zx), ind, win, ws, ch, Int(count),
                                   Buf(dw), Null()] + sc, "backward", nm))
            up = s8_weight_update(b, node, dw, cc, state, j0)
            if len(chunks) > 1:
                steps.append(up)      # chunked (reordering): apply this chunk before the next one overwrites dw
            else:
                updates.append(up)
    bch = b.rs.biases.get(nm)
    if bch is not None:
        db = b.add(f"db_{nm}", (int(bch.size),), "float32", "arena", "grad")
        pixels = 1 if fc else int(ys[1] * ys[2])
        steps.append(Step("odl_bias_grad_s32_f32", [Buf(dy), Int(pixels), Int(out_c), ws, Float(sx),
                                                    _channels_arg(bch, out_c), Int(int(bch.size)), Buf(db)],
                          "backward", nm))
        updates.append(s8_bias_update(b, node, db, bch))
    return steps, updates


@grad("relu", "relu6")
def grad_relu(b: Builder, node, dy: str) -> tuple[list, list]:
    x = node.inputs[0]
    if not b.rg.get(x):
        return [], []
    dx, post = grad_target(b, x, node.name)
    if b.precision == "int8":
        y = node.outputs[0]
        lo, hi = act_range(node.op, b.t(y))
        return [Step("odl_act_backward_s8", [Buf(b.value(y)), Buf(dy), Int(b.t(y).size), Int(lo), Int(hi), Buf(dx)],
                     "backward", node.name)] + post, []
    return [Step(f"odl_relu_mask_{gsfx(b)}_backward", [Buf(b.masks[node.name]), Buf(dy), Buf(dx),
                                                       Int(b.t(x).size)], "backward", node.name)] + post, []


@grad("avg_pool2d", "max_pool2d")
def grad_pool(b: Builder, node, dy: str) -> tuple[list, list]:
    x, y = node.inputs[0], node.outputs[0]
    if not b.rg.get(x):
        return [], []
    xs, ys = b.t(x).shape, b.t(y).shape
    s, nm = gsfx(b), node.name
    ind, win = Struct("odl_dims", dims(xs)), Struct("odl_window", pool_window(node, xs, ys))
    dx, post = grad_target(b, x, nm)
    if node.op == "avg_pool2d":
        return [Step(f"odl_avg_pool2d_{s}_backward", [ind, win, Buf(dy), Buf(dx)], "backward", nm)] + post, []
    steps = []
    X = b.value(x)
    if b.precision == "int8":   # argmax of the int8 values == argmax of their dequantized values (scale > 0)
        sx, zx = qparams(b.t(x))
        xf = b.tmp(f"xf_{nm}", xs, "float32", "activation")
        steps.append(Step("odl_dequantize_s8_f32", [Buf(X), Int(b.t(x).size), Float(sx), Int(zx), Buf(xf)],
                          "backward", nm))
        X = xf
    steps.append(Step(f"odl_max_pool2d_{s}_backward", [ind, win, Buf(X), Buf(dy), Buf(dx)], "backward", nm))
    return steps + post, []


@grad("global_avg_pool")
def grad_gap(b: Builder, node, dy: str) -> tuple[list, list]:
    x = node.inputs[0]
    if not b.rg.get(x):
        return [], []
    dx, post = grad_target(b, x, node.name)
    return [Step(f"odl_global_avg_pool_{gsfx(b)}_backward", [Struct("odl_dims", dims(b.t(x).shape)), Buf(dy),
                                                             Buf(dx)], "backward", node.name)] + post, []


@grad("add")
def grad_add(b: Builder, node, dy: str) -> tuple[list, list]:
    s, nm = gsfx(b), node.name
    y = node.outputs[0]
    n = b.t(y).size
    steps: list = []
    act = node.attrs.get("activation", "none")
    if act not in (None, "none"):
        if b.precision == "int8":
            lo, hi = act_range(act, b.t(y))
            steps.append(Step("odl_act_backward_s8", [Buf(b.value(y)), Buf(dy), Int(n), Int(lo), Int(hi), Buf(dy)],
                              "backward", nm))
        else:
            steps.append(Step(f"odl_relu_mask_{s}_backward", [Buf(b.masks[nm]), Buf(dy), Buf(dy), Int(n)],
                              "backward", nm))
    targets, post = [], []
    for i in node.inputs[:2]:
        if b.rg.get(i):
            d, p = grad_target(b, i, nm)
            targets.append(Buf(d))
            post += p
        else:
            targets.append(Null())
    if all(isinstance(t, Null) for t in targets):
        return [], []
    steps.append(Step(f"odl_add_{s}_backward", [Buf(dy), targets[0], targets[1], Int(n)], "backward", nm))
    return steps + post, []


@grad("reshape", "softmax")
def grad_free(b: Builder, node, dy: str) -> tuple[list, list]:
    return [], []   # the output's gradient buffer IS the input's (same alias class)


# ---- loss and backward driver ----------------------------------------------------------------------------------------
def loss_steps(b: Builder, logits_t: str, label: str, loss: str) -> list:
    """Softmax cross-entropy on the logits (int8: dequantized first); d(logits) when anything is trainable."""
    L = b.value(logits_t)
    n = b.t(logits_t).size
    dlog = Null()
    if b.rg.get(logits_t):
        dlog = Buf(grad_target(b, logits_t, "loss")[0])
    if b.precision == "int8":
        s, zp = qparams(b.t(logits_t))
        lf = b.add("logits_f32", b.t(logits_t).shape, "float32", "arena", "activation")
        return [Step("odl_dequantize_s8_f32", [Buf(L), Int(n), Float(s), Int(zp), Buf(lf)], "loss", "loss"),
                Step("odl_softmax_cross_entropy_f32_label", [Buf(lf), Int(n), Buf(label), Buf(loss), dlog], "loss",
                     "loss")]
    return [Step(f"odl_softmax_cross_entropy_{gsfx(b)}_label", [Buf(L), Int(n), Buf(label), Buf(loss), dlog],
                 "loss", "loss")]


def backward(b: Builder, nodes: list, logits_t: str, reorder: bool = True) -> list:
    b.reorder_now = reorder
    steps: list = []
    deferred: list = []
    for node in reversed(nodes):
        y = node.outputs[0]
        if not b.rg.get(y):
            continue
        r = b.r(y)
        if r not in b.grad:
            continue   # nothing downstream consumed a gradient of this output
        if node.op in ("reshape", "softmax"):
            src = b.r(node.inputs[0])
            # same alias class: the gradient buffer already is the input's
            assert src == r
            continue
        if node.op not in GRAD:
            raise LoweringError(f"node {node.name}: op {node.op} has no gradient rule")
        bw, up = GRAD[node.op](b, node, b.grad[r])
        steps += bw
        if reorder:
            steps += up
        else:
            deferred += up
    return steps + deferred
