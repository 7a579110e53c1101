"""TFLite models without TensorFlow: write single-op (or larger) int8 .tflite flatbuffers from numpy arrays, and
run them in the reference interpreters (TFLite Micro, LiteRT) that odl's int8 kernels are checked against.

    from toolkit.tflite import ModelBuilder, run_tflm, activation_range_s8
"""

from toolkit.tflite.reference import (  # noqa: F401
    TflmResult,
    activation_range_s8,
    num_outputs,
    run_litert,
    run_tflm,
)
from toolkit.tflite.writer import (  # noqa: F401
    DEFAULT_VERSIONS,
    ModelBuilder,
    add_model,
    builtin_code,
    builtin_name,
    conv2d_model,
    conv_output_size,
    depthwise_conv2d_model,
    fully_connected_model,
    mean_model,
    pool2d_model,
    quantize_model,
    reshape_model,
    softmax_model,
)
