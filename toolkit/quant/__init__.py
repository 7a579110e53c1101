"""Quantization arithmetic (TFLite-exact) and, later, post-training quantization and QAS."""

from toolkit.quant.fixedpoint import (  # noqa: F401
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
