"""The C device (csrc/runtime/device.c) compiled for the host, driven in-process.

``HostDevice`` owns an ``odl_device`` plus the buffers it needs (all allocated by cffi, so the C stays malloc-free)
and registers numpy arrays as tensors. ``feed(bytes)`` returns what the device wrote back. This is the same C the
boards run, so every protocol feature is testable without QEMU.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import OdlError
from toolkit.host import get_lib

STATUS_NAMES = {0: "ODL_OK", -1: "ODL_ERR_ARG", -2: "ODL_ERR_SHAPE", -3: "ODL_ERR_SCRATCH", -4: "ODL_ERR_UNSUPPORTED"}


class HostDevice:
    """An odl_device on the host.

    ``max_payload`` (128 .. ODL_PROTO_MAX_PAYLOAD) and ``staging_size`` are the device's; ``out_capacity`` bounds the
    bytes one ``feed`` call may produce (overflow is counted by the C buffer and raised here).
    """

    def __init__(self, board_name: str = "host", fw_version: str = "0.1.0", model_signature: int = 0,
                 max_payload: int = 0, staging_size: int = 1 << 16, out_capacity: int = 1 << 20,
                 journal: bool = False):
        self.ffi, self.lib = get_lib()
        ffi, lib = self.ffi, self.lib
        self._keep = []  # cffi objects the C side points into
        self.dev = ffi.new("odl_device *")
        self.cfg = ffi.new("odl_device_config *")
        self._out = ffi.new("uint8_t[]", out_capacity)
        self.buf = ffi.new("odl_bytebuf *", {"data": self._out, "cap": out_capacity})
        self._board = ffi.new("char[]", board_name.encode())
        self._fw = ffi.new("char[]", fw_version.encode())
        self.staging = ffi.new("uint8_t[]", staging_size) if staging_size else ffi.NULL
        self.cfg.board_name = self._board
        self.cfg.fw_version = self._fw
        self.cfg.model_signature = model_signature
        self.cfg.max_payload = max_payload
        self.cfg.write = ffi.addressof(lib, "odl_bytebuf_write")
        self.cfg.write_ctx = self.buf
        self.cfg.staging = self.staging
        self.cfg.staging_size = staging_size
        self.journal = ffi.new("odl_commit_journal *") if journal else ffi.NULL
        self.cfg.journal = self.journal
        self.reset_count = 0
        self._check(lib.odl_device_init(self.dev, self.cfg), "odl_device_init")
        self.arrays: dict[int, np.ndarray] = {}

    @staticmethod
    def _check(st: int, what: str) -> None:
        if st != 0:
            raise OdlError(f"{what} failed with {STATUS_NAMES.get(st, st)}")

    # ---- registration -----------------------------------------------------------------------------------------
    def register_tensor(self, tid: int, array: np.ndarray, writable: bool = True) -> np.ndarray:
        """Register a C-contiguous array (kept alive here) under ``tid``; the device reads and writes it in place."""
        if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
            raise OdlError("register_tensor: need a C-contiguous numpy array")
        flags = self.lib.ODL_TENSOR_WRITABLE if writable else self.lib.ODL_TENSOR_READ_ONLY
        ptr = self.ffi.from_buffer(array, require_writable=writable)
        self._keep.append(ptr)
        self._check(self.lib.odl_device_register_tensor(self.dev, tid, ptr, array.nbytes, flags), "register_tensor")
        self.arrays[tid] = array
        return array

    def register_tensor_shadowed(self, tid: int, array: np.ndarray) -> np.ndarray:
        """Register ``array`` with a shadow of the same size; after a commit the contents live in either buffer:
        read them with ``tensor_bytes(tid)``."""
        shadow = np.zeros_like(array)
        pa, ps = self.ffi.from_buffer(array), self.ffi.from_buffer(shadow)
        self._keep += [pa, ps, shadow]
        self._check(self.lib.odl_device_register_tensor_shadowed(self.dev, tid, pa, ps, array.nbytes),
                    "register_tensor_shadowed")
        self.arrays[tid] = array
        return array

    def tensor_bytes(self, tid: int) -> bytes:
        """Current contents of tensor ``tid`` as the device sees them."""
        p = self.lib.odl_device_tensor_data(self.dev, tid)
        if p == self.ffi.NULL:
            raise OdlError(f"no tensor {tid}")
        for i in range(16):
            if self.dev.tensors[i].used and self.dev.tensors[i].id == tid:
                return bytes(self.ffi.buffer(self.ffi.cast("uint8_t *", p), self.dev.tensors[i].size))
        raise OdlError(f"no tensor {tid}")

    def register_kernel(self, kid: int, fn, ctx=None) -> None:
        """Register a C handler (a cffi function pointer) for RUN_KERNEL id ``kid``."""
        self._check(self.lib.odl_device_register_kernel(self.dev, kid, fn, ctx or self.ffi.NULL), "register_kernel")

    def register_handler(self, msg_type: int, fn, ctx=None) -> None:
        self._check(self.lib.odl_device_register_handler(self.dev, msg_type, fn, ctx or self.ffi.NULL),
                    "register_handler")

    # ---- bytes in, bytes out ----------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Feed bytes to the device; return the bytes it wrote in response."""
        data = bytes(data)
        if data:
            n = self.lib.odl_device_feed(self.dev, data, len(data))
            if n < 0:
                raise OdlError(f"odl_device_feed failed with {STATUS_NAMES.get(n, n)}")
        return self.take_output()

    def take_output(self) -> bytes:
        out = bytes(self.ffi.buffer(self._out, self.buf.len))
        if self.buf.overflow:
            self.buf.len = 0
            self.buf.overflow = 0
            raise OdlError("HostDevice output buffer overflowed; raise out_capacity")
        self.buf.len = 0
        return out

    def reset(self) -> None:
        """Soft reset of the protocol state, as if the board rebooted (tensors are kept)."""
        self.lib.odl_device_reset_session(self.dev)
        self.reset_count += 1

    def recover(self) -> int:
        """odl_device_recover(): finish a commit a reset interrupted (see csrc/include/odl/protocol.h)."""
        return int(self.lib.odl_device_recover(self.dev))

    @property
    def stats(self) -> dict:
        from toolkit.link.frame import STAT_COUNTERS

        s = self.dev.stats
        return {k: int(getattr(s, k)) for k in STAT_COUNTERS}

    @property
    def transfer_in_progress(self) -> bool:
        return self.dev.xfer_slot >= 0
