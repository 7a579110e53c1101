"""Host emulation: the csrc kernels compiled through cffi, exposed on numpy arrays.

``get_lib()`` returns ``(ffi, lib)`` for the default build (double rounding, host SIMD path compiled in);
``get_lib(single_rounding=True)`` for TFLite's single-rounding variant; ``get_lib(host_simd=False)`` for a
reference-only build. Kernel wrappers live in the ``kernels_*`` modules of this package.
"""

from __future__ import annotations

import functools

from toolkit.host.build import HostBuild, build


@functools.lru_cache(maxsize=None)
def get_lib(single_rounding: bool = False, host_simd: bool = True):
    """(ffi, lib) of the host build; hashed and built (or loaded) once per process."""
    defines = ["ODL_SINGLE_ROUNDING"] if single_rounding else []
    return build(HostBuild(defines=defines, host_simd=host_simd))


PATHS = {"reference": 0, "host": 1, "arm_dsp": 2, "arm_mve": 3, "rvv": 4}


class use_path:
    """Context manager selecting the matmul code path of a build, e.g. ``with use_path('reference'): ...``."""

    def __init__(self, path: str, lib=None):
        from toolkit.errors import OdlError

        if path not in PATHS:
            raise OdlError(f"unknown code path {path!r}; choose from {', '.join(PATHS)}")
        self.lib = lib if lib is not None else get_lib()[1]
        self.want = PATHS[path]
        self.path = path

    def __enter__(self):
        from toolkit.errors import OdlError

        self.prev = self.lib.odl_path_active()
        if self.lib.odl_path_select(self.want) != 0:
            raise OdlError(f"code path {self.path!r} is not compiled into this build")
        return self

    def __exit__(self, *exc):
        self.lib.odl_path_select(self.prev)
        return False
