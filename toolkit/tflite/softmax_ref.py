"""TFLite's int8 SOFTMAX in integer arithmetic (numpy / Python ints), and run_int8 for graphs that end in one.

TFLite Micro computes an int8 -> int8 softmax (output scale 1/256, zero point -128) with gemmlowp fixed point:
``CalculateSoftmaxParams`` (PreprocessSoftmaxScaling with 5 integer bits for the scaled differences,
CalculateInputRadius for ``diff_min``) then ``reference_ops::Softmax``: exp of the (negative) differences to the row
maximum in Q5.26 by ``exp_on_negative_values``, a Q12.19 sum, its reciprocal by Newton-Raphson
(``one_over_one_plus_x_for_x_in_0_1``), and a rounding shift to 8 bits. This module writes that arithmetic out from
TFLite's and gemmlowp's definitions (double rounding, the TFLM default). ``toolkit.ir.interp.run_int8`` has no
softmax; ``run_int8_with_softmax`` runs it up to the logits and applies this one.
"""

from __future__ import annotations

import math

import numpy as np

from toolkit.errors import OdlError
from toolkit.quant.fixedpoint import quantize_multiplier

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_SCALED_DIFF_INTEGER_BITS = 5
_ACCUMULATION_INTEGER_BITS = 12


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul (int32)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _c_div(ab + nudge, 1 << 31)


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _sat_mul_pot(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> (int32)."""
    if exponent < 0:
        return _rdbpot(x, -exponent)
    if exponent == 0:
        return x
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """Q0.31 in, Q0.31 out."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = _wrap32(a + (1 << 28))  # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _sat_mul_pot(x4, -2)
    poly = _sat_mul_pot(_wrap32(_srdhm(_wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return _wrap32(constant_term + _srdhm(constant_term, _wrap32(x + poly)))


def exp_on_negative_values(a: int, integer_bits: int = _SCALED_DIFF_INTEGER_BITS) -> int:
    """gemmlowp exp_on_negative_values: a <= 0 in Q(integer_bits).(31-integer_bits), exp(a) in Q0.31."""
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = _wrap32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _sat_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits))  # Rescale<0>
    remainder = _wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent:
            if remainder & (1 << (frac + exponent)):
                result = _srdhm(result, multiplier)
    if integer_bits > 5:  # pragma: no cover - TFLite uses 5
        raise OdlError("exp_on_negative_values: more than 5 integer bits is not modelled")
    return INT32_MAX if a == 0 else result


def _one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """Q0.31 a in [0, 1) -> 1 / (1 + a) in Q0.31."""
    s = a + INT32_MAX
    half_denominator = _c_div(s + (1 if s >= 0 else -1), 2)  # RoundingHalfSum(a, One)
    x = _wrap32(1515870810 + _srdhm(half_denominator, -1010580540))  # Q2.29: 48/17 - 32/17 * d
    one_f2 = 1 << 29
    for _ in range(3):
        half_denominator_times_x = _srdhm(half_denominator, x)
        one_minus = _wrap32(one_f2 - half_denominator_times_x)
        x = _wrap32(x + _sat_mul_pot(_srdhm(x, one_minus), 2))  # Rescale<2> of a Q4.27 product
    return _sat_mul_pot(x, 1)  # ExactMulByPot<-1> then Rescale<0>


def _get_reciprocal(x: int, x_integer_digits: int) -> tuple[int, int]:
    """TFLite GetReciprocal: (Q0.31 reciprocal scale, num_bits_over_unit)."""
    headroom_plus_one = 32 - int(x).bit_length() if x > 0 else 32  # CountLeadingZeros of a positive int32
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = _wrap32(((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def softmax_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """TFLM CalculateSoftmaxParams for int8 input: (input_multiplier, input_left_shift, diff_min)."""
    real = min(float(beta) * float(np.float32(input_scale)) * (1 << (31 - _SCALED_DIFF_INTEGER_BITS)),
               float((1 << 31) - 1))
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise OdlError(f"softmax: input scale {input_scale} * beta {beta} is too small (TFLite requires a "
                       "non-negative left shift)")
    radius = math.floor(1.0 * ((1 << _SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - _SCALED_DIFF_INTEGER_BITS))
                        / (1 << shift))
    return int(mult), int(shift), -int(radius)


def softmax_s8(x, input_scale: float, beta: float = 1.0) -> np.ndarray:
    """int8 softmax over the last axis with TFLite Micro's arithmetic; output scale 1/256, zero point -128."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise OdlError(f"softmax_s8: expected int8 input, got {x.dtype}")
    mult, left_shift, diff_min = softmax_params(input_scale, beta)
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    out = np.empty(rows.shape, dtype=np.int8)
    for r, row in enumerate(rows):
        mx = int(row.max())
        exps = []
        total = 0
        for v in row:
            diff = int(v) - mx
            if diff >= diff_min:
                e = exp_on_negative_values(_srdhm(diff * (1 << left_shift), mult))
                total = _wrap32(total + _rdbpot(e, _ACCUMULATION_INTEGER_BITS))  # Rescale<12>
            else:
                e = None
            exps.append(e)
        scale, bits_over_unit = _get_reciprocal(total, _ACCUMULATION_INTEGER_BITS)
        for c, e in enumerate(exps):
            if e is None:
                out[r, c] = -128
                continue
            unsat = _rdbpot(_srdhm(scale, e), bits_over_unit + 31 - 8)
            out[r, c] = max(-128, min(127, unsat - 128))
    return out.reshape(x.shape)


def run_int8_with_softmax(graph, x_q) -> dict[str, np.ndarray]:
    """``toolkit.ir.interp.run_int8`` for a graph whose trailing nodes may be ``softmax``: runs the rest with
    run_int8 and the softmax nodes with ``softmax_s8``; returns every tensor by name."""
    from toolkit.ir.graph import Graph
    from toolkit.ir.interp import run_int8

    tail = []
    nodes = list(graph.nodes)
    while nodes and nodes[-1].op == "softmax":
        tail.insert(0, nodes.pop())
    if any(n.op == "softmax" for n in nodes):
        raise OdlError(f"graph {graph.name}: a softmax that is not at the end of the graph")
    if not tail:
        return run_int8(graph, x_q)
    drop = {o for n in tail for o in n.outputs}
    needed = [n.inputs[0] for n in tail if n.inputs[0] not in drop]
    head = Graph(graph.name, {k: t for k, t in graph.tensors.items() if k not in drop}, nodes, list(graph.inputs),
                 [o for o in graph.outputs if o not in drop] + [t for t in needed if t not in graph.outputs],
                 dict(graph.meta))
    env = run_int8(head, x_q)
    for n in tail:
        qi, qo = graph.tensor(n.inputs[0]).quant, graph.tensor(n.outputs[0]).quant
        if qo is None or np.float32(qo.scale[0]) != np.float32(1.0 / 256.0) or int(qo.zero_point[0]) != -128:
            raise OdlError(f"node {n.name}: int8 softmax output must have scale 1/256 and zero point -128")
        env[n.outputs[0]] = softmax_s8(env[n.inputs[0]], qi.scale[0], float(n.attrs.get("beta", 1.0)))
    return env
