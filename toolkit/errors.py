"""Errors odl raises on purpose. The CLI prints them as one clear line (no traceback) and exits non-zero."""


class OdlError(Exception):
    """Base class of every error odl reports to the user."""


class ShapeError(OdlError, ValueError):
    """Arrays whose shapes do not fit the kernel or each other."""


class DTypeError(OdlError, TypeError):
    """An array of the wrong element type."""


class KernelError(OdlError):
    """A C kernel returned an error status."""


class BuildError(OdlError):
    """Compiling C (host through cffi, or firmware) failed."""


class ToolMissingError(OdlError):
    """An external tool (compiler, emulator, flasher) is not installed."""
