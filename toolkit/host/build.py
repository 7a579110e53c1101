"""Build csrc (plus optional extra C, such as a generated model) into a Python extension through cffi.

The cdef is derived from the public headers in ``csrc/include/odl`` by running the C preprocessor with
``-DODL_CDEF -nostdinc``; the build is cached under ``$ODL_CACHE_DIR`` (default ``~/.cache/odl``) by a hash of every
source, header and flag, and guarded by a file lock so parallel test workers share one build.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import BuildError

REPO = Path(__file__).resolve().parents[2]
CSRC = REPO / "csrc"
INCLUDE = CSRC / "include"
PUBLIC_HEADERS = INCLUDE / "odl"

# Folders of csrc compiled into every host build. SIMD folders for targets are excluded: they compile to nothing
# unless their ODL_WITH_* macro is set, and they need target intrinsics.
HOST_SOURCE_DIRS = ("kernels", "runtime")
TARGET_ONLY_DIRS = ("kernels/simd/arm_dsp", "kernels/simd/arm_mve", "kernels/simd/rvv")

DEFAULT_CFLAGS = ("-O3", "-std=gnu11", "-fno-strict-aliasing", "-ffp-contract=off", "-Wall", "-Wno-unused-function",
                  # the cdef spells odl_f16 as uint16_t; the cffi wrapper passes those pointers on to _Float16 APIs
                  "-Wno-incompatible-pointer-types")


def cache_root() -> Path:
    return Path(os.environ.get("ODL_CACHE_DIR", Path.home() / ".cache" / "odl"))


def csrc_sources() -> list[Path]:
    out = []
    for d in HOST_SOURCE_DIRS:
        for p in sorted((CSRC / d).rglob("*.c")):
            rel = p.relative_to(CSRC).as_posix()
            if any(rel.startswith(t + "/") for t in TARGET_ONLY_DIRS):
                continue
            out.append(p)
    return out


def _target_only(p: Path) -> bool:
    """Files of the target SIMD folders: never part of a host build, so they do not change its hash."""
    try:
        rel = p.resolve().relative_to(CSRC).as_posix()
    except ValueError:
        return False
    return any(rel.startswith(t + "/") for t in TARGET_ONLY_DIRS)


def public_headers() -> list[Path]:
    return sorted(PUBLIC_HEADERS.glob("*.h"))


def _cc() -> str:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or "cc"


def make_cdef(headers: list[Path], include_dirs: list[Path], defines: list[str]) -> str:
    """Preprocess ``headers`` in cdef mode and return declarations cffi can parse."""
    umbrella = "".join(f'#include "{h}"\n' for h in headers)
    cmd = [_cc(), "-E", "-P", "-nostdinc", "-DODL_CDEF", "-x", "c", "-"]
    cmd += [f"-I{d}" for d in include_dirs] + [f"-D{d}" for d in defines]
    try:
        res = subprocess.run(cmd, input=umbrella, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise BuildError(f"no C compiler found ({cmd[0]}); install gcc (run `make setup`)") from e
    if res.returncode != 0:
        raise BuildError(f"preprocessing the odl headers for cffi failed:\n{res.stderr}")
    return res.stdout


@dataclass
class HostBuild:
    """One host build: which C goes in and with what flags."""

    name: str = "odl"
    extra_sources: list[Path] = field(default_factory=list)
    extra_headers: list[Path] = field(default_factory=list)  # cdef'd too, after the public ones
    extra_include_dirs: list[Path] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)  # e.g. ["ODL_SINGLE_ROUNDING"]
    host_simd: bool = True  # compile the host vector-extension path (ODL_WITH_HOST)
    cflags: list[str] = field(default_factory=lambda: list(DEFAULT_CFLAGS))

    def all_defines(self) -> list[str]:
        d = list(self.defines)
        if self.host_simd:
            d.append("ODL_WITH_HOST")
        return d

    def sources(self) -> list[Path]:
        return csrc_sources() + [Path(p) for p in self.extra_sources]

    def include_dirs(self) -> list[Path]:
        return [INCLUDE, CSRC / "kernels", CSRC / "runtime"] + [Path(p) for p in self.extra_include_dirs]

    def digest(self) -> str:
        h = hashlib.sha256()
        files = self.sources() + public_headers() + [Path(p) for p in self.extra_headers]
        for d in self.include_dirs():
            if d.is_dir():
                files += sorted(p for ext in ("*.h", "*.inc", "*.c") for p in d.rglob(ext) if not _target_only(p))
        for p in sorted(set(files)):
            h.update(str(p).encode())
            h.update(p.read_bytes())
        h.update(repr((self.all_defines(), self.cflags, sys.version, _cc())).encode())
        h.update(Path(__file__).read_bytes())
        return h.hexdigest()[:16]


_LOADED: dict[str, tuple] = {}


def build(spec: HostBuild | None = None, verbose: bool = False):
    """Compile (or load from cache) and return ``(ffi, lib)``."""
    spec = spec or HostBuild()
    digest = spec.digest()
    if digest in _LOADED:
        return _LOADED[digest]
    modname = f"_odl_{spec.name}_{digest}"
    outdir = cache_root() / "host" / modname
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            so = _find_module(outdir, modname)
            if so is None:
                _compile(spec, modname, outdir, verbose)
                so = _find_module(outdir, modname)
                if so is None:
                    raise BuildError(f"cffi build produced no module in {outdir}")
        finally:
            fcntl.flock(lockf, fcntl.LOCK_UN)
    mod = _load(modname, so)
    _LOADED[digest] = (mod.ffi, mod.lib)
    return _LOADED[digest]


def _find_module(outdir: Path, modname: str) -> Path | None:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    p = outdir / (modname + suffix)
    return p if p.exists() else None


def _compile(spec: HostBuild, modname: str, outdir: Path, verbose: bool) -> None:
    import cffi

    headers = public_headers() + [Path(p) for p in spec.extra_headers]
    cdef = make_cdef(headers, spec.include_dirs(), spec.all_defines())
    ffi = cffi.FFI()
    try:
        ffi.cdef(cdef)
    except Exception as e:  # cffi raises CDefError / ParseError
        raise BuildError(f"cffi could not parse the odl headers: {e}") from e
    ffi.set_source(
        modname,
        "".join(f'#include "{h}"\n' for h in headers),
        sources=[str(s) for s in spec.sources()],
        include_dirs=[str(d) for d in spec.include_dirs()],
        define_macros=[(d.split("=", 1)[0], d.split("=", 1)[1] if "=" in d else None) for d in spec.all_defines()],
        extra_compile_args=list(spec.cflags),
        libraries=["m"],
    )
    tmp = outdir / "build"
    try:
        ffi.compile(tmpdir=str(tmp), verbose=verbose)
    except Exception as e:
        raise BuildError(f"compiling csrc for the host failed: {e}") from e
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = tmp / (modname + suffix)
    if not built.exists():
        cands = list(tmp.rglob(modname + "*.so"))
        if not cands:
            raise BuildError(f"cffi build finished but {built} is missing")
        built = cands[0]
    shutil.copy2(built, outdir / (modname + suffix))
    shutil.rmtree(tmp, ignore_errors=True)


def _load(modname: str, so: Path):
    spec = importlib.util.spec_from_file_location(modname, so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
