"""Errors of the serial link. All are OdlError, so the CLI prints them as one line."""

from __future__ import annotations

from toolkit.errors import OdlError


class LinkError(OdlError):
    """Base class of every serial-link failure."""


class LinkTimeout(LinkError):
    """No valid response within the timeout, after every retry."""


class LinkCrcError(LinkError):
    """Frames kept arriving damaged (CRC / COBS / truncation) on every retry."""


class VersionMismatch(LinkError):
    """The device speaks another protocol version."""

    def __init__(self, msg: str, device_version: int | None = None):
        super().__init__(msg)
        self.device_version = device_version


class NakError(LinkError):
    """The device refused a request: ``code`` is its status (toolkit.link.frame.Status), ``payload`` its details."""

    def __init__(self, msg: str, code: int, payload: bytes = b""):
        super().__init__(msg)
        self.code = code
        self.payload = payload


class ProtocolError(LinkError):
    """A response that does not follow docs/protocol.md (wrong size, wrong type)."""


class TensorCommitError(LinkError):
    """A tensor write could not be committed after every retry; the device keeps the old contents."""


class PayloadTooLarge(LinkError, ValueError):
    """A request payload longer than the device's max payload (from HELLO)."""


class SerialOpenError(LinkError):
    """The serial port / URL could not be opened."""
