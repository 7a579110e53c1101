"""The IR: a plain graph of ops with shapes, dtypes, quantization parameters and weights (dataclasses, JSON
round-trip). Layouts are the C kernels' own: activations NHWC (batch 1), conv weights OHWI, depthwise weights 1HWC,
fully-connected weights [out, in]. Frontends convert into it; every later stage reads only it.
"""

from toolkit.ir.graph import OPS, Graph, Node, Quant, Tensor  # noqa: F401
