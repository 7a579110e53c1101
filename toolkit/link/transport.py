"""Byte transports under SerialLink: any pyserial URL, or the host-compiled C device in-process.

A transport moves bytes, nothing more: ``write(data)``; ``read(timeout)`` returns whatever arrived within
``timeout`` seconds (possibly b""). A *synchronous* transport produces bytes only in answer to ``write`` (the
in-process device), so an empty read means "nothing will come": SerialLink then retransmits at once instead of
sleeping through its timeout, which keeps fault tests fast and deterministic.
"""

from __future__ import annotations

import time

from toolkit.link.errors import SerialOpenError


class Transport:
    synchronous = False

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SerialTransport(Transport):
    """pyserial's serial_for_url: /dev/ttyACM0, COM3, socket://host:port, rfc2217://host:port, loop://, ..."""

    def __init__(self, url: str, baudrate: int = 115200, **kwargs):
        import serial

        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=10, **kwargs)
        except (serial.SerialException, ValueError, OSError) as e:
            raise SerialOpenError(f"cannot open serial port {url!r}: {e}") from e
        self.url = url

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as e:
            raise SerialOpenError(f"writing to {self.url!r} failed: {e}") from e

    def read(self, timeout: float) -> bytes:
        import serial

        deadline = time.monotonic() + max(timeout, 0.0)
        try:
            while True:
                n = self.port.in_waiting
                if n:
                    return self.port.read(n)
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self.port.timeout = min(left, 0.05)
                b = self.port.read(1)
                self.port.timeout = 0
                if b:
                    n = self.port.in_waiting
                    return b + (self.port.read(n) if n else b"")
        except (serial.SerialException, OSError) as e:
            raise SerialOpenError(f"reading from {self.url!r} failed: {e}") from e

    def close(self) -> None:
        self.port.close()


class InProcessTransport(Transport):
    """The C device (toolkit.link.device.HostDevice) in this process: write() feeds it, read() returns its replies."""

    synchronous = True

    def __init__(self, device=None):
        if device is None:
            from toolkit.link.device import HostDevice

            device = HostDevice()
        self.device = device
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += self.device.feed(data)

    def read(self, timeout: float) -> bytes:
        out = bytes(self._pending)
        self._pending.clear()
        return out


class FaultyTransport(Transport):
    """Wrap a transport with FaultInjectors on either direction (toolkit.link.faults)."""

    def __init__(self, inner: Transport, to_device=None, to_host=None, on_write=None):
        self.inner = inner
        self.to_device = to_device
        self.to_host = to_host
        self.on_write = on_write  # optional hook(transport, n_writes) e.g. to reset the device mid-transfer
        self.synchronous = inner.synchronous
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.on_write:
            self.on_write(self, self.writes)
        if self.to_device:
            data = self.to_device.process(data)
        if data:
            self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        data = self.inner.read(timeout)
        if self.to_host and data:
            data = self.to_host.process(data)
        return data

    def close(self) -> None:
        self.inner.close()
