"""toolkit.link: the host end of the odl serial protocol (docs/protocol.md).

- ``SerialLink(url)`` over any pyserial URL (``/dev/ttyACM0``, ``socket://127.0.0.1:PORT``, ``loop://``,
  ``rfc2217://...``), or ``SerialLink.in_process(HostDevice(...))`` over the C device compiled for the host.
  Methods: hello, ping, info, stats, reset, tensor_info, write_tensor, read_tensor, run_kernel, request.
- ``HostDevice``: the firmware's protocol handler (csrc/runtime) in this process, with numpy tensors.
- ``DeviceServer``: a HostDevice served on a local TCP port (a stand-in for QEMU's ``-serial tcp``).
- ``FaultProxy``: a TCP man-in-the-middle injecting deterministic, bounded faults (``Faults``).
- ``frame``: COBS, CRC-32, frame encode/decode, the message and status tables.
"""

from toolkit.link.errors import (LinkCrcError, LinkError, LinkTimeout, NakError, PayloadTooLarge, ProtocolError,
                                 SerialOpenError, TensorCommitError, VersionMismatch)
from toolkit.link.faults import FaultInjector, Faults
from toolkit.link.frame import Frame, FrameError, FrameParser, Msg, Status, decode_frame, encode_frame
from toolkit.link.link import DeviceInfo, Hello, KernelResult, SerialLink, TensorInfo
from toolkit.link.transport import FaultyTransport, InProcessTransport, SerialTransport, Transport


def __getattr__(name):
    # lazily: these build the host C library on first use
    if name == "HostDevice":
        from toolkit.link.device import HostDevice

        return HostDevice
    if name in ("FaultProxy", "DeviceServer"):
        from toolkit.link import proxy

        return getattr(proxy, name)
    raise AttributeError(name)


__all__ = [
    "SerialLink", "Hello", "TensorInfo", "DeviceInfo", "KernelResult", "HostDevice", "DeviceServer",
    "FaultProxy", "Faults", "FaultInjector", "Frame", "FrameError", "FrameParser", "Msg", "Status",
    "encode_frame", "decode_frame", "Transport", "SerialTransport", "InProcessTransport", "FaultyTransport",
    "LinkError", "LinkTimeout", "LinkCrcError", "NakError", "PayloadTooLarge", "VersionMismatch",
    "ProtocolError", "TensorCommitError", "SerialOpenError",
]
