"""Run single csrc kernels on emulated boards: firmware kernel service (firmware/kernel_service.c) + QEMU + link,
with exact instruction counts (minstret on RISC-V, the insncount TCG plugin on Cortex-M).

``TargetSession(board).run(kernel, path, inputs, params) -> (outputs, instructions)``; ``kernels.reference()``
computes the expected outputs on the host with the reference C.
"""

from toolkit.target.kernels import KERNELS, make_inputs, reference, slot_shapes
from toolkit.target.session import TargetError, TargetSession

__all__ = ["KERNELS", "TargetError", "TargetSession", "make_inputs", "reference", "slot_shapes"]
