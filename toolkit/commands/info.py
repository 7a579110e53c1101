"""`odl info`: the kernel library this host builds, its code paths and rounding mode."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("info", help="show the host kernel library: version, code paths, rounding",
                       description="Build (or load from cache) the C kernel library for this host and report its "
                       "version, compiled matmul code paths and rounding mode.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def host_info() -> dict:
    from toolkit.host import PATHS, get_lib

    ffi, lib = get_lib()
    paths = [name for name, i in PATHS.items() if lib.odl_path_get(i) != ffi.NULL]
    names = {i: n for n, i in PATHS.items()}
    return {
        "version": ffi.string(lib.odl_version()).decode(),
        "paths": paths,
        "active_path": names[int(lib.odl_path_active())],
        "rounding": "single" if lib.odl_single_rounding() else "double",
    }


def run(args) -> int:
    info = host_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"odl kernel library {info['version']}")
        print(f"  matmul code paths: {', '.join(info['paths'])} (active: {info['active_path']})")
        print(f"  int8 rounding: {info['rounding']} (TFLite {'TFLITE_SINGLE_ROUNDING' if info['rounding'] == 'single' else 'gemmlowp double rounding'})")
    return 0
