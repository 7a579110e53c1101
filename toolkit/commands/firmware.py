"""`odl firmware build`: cross-compile the firmware of a board with CMake and check it fits."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("firmware", help="build firmware for a board",
                       description="Firmware images for the boards under boards/.")
    fsub = p.add_subparsers(dest="firmware_command", metavar="ACTION")
    b = fsub.add_parser("build", help="configure and build the firmware ELF of a board, report its size",
                        description="Configure (CMake, the board's toolchain file) and build the firmware ELF, then "
                        "print text/data/bss against the board's Flash and SRAM. Refuses clearly (exit 1) when "
                        "the image does not fit the chip.")
    b.add_argument("--board", required=True, help="board name (see `odl boards`)")
    b.add_argument("-o", "--out", metavar="DIR", help="build directory (default: ~/.cache/odl/fw/<board>-<hash>)")
    b.add_argument("-D", "--define", action="append", default=[], metavar="NAME=VALUE",
                   help="extra C macro for the firmware and the library (repeatable)")
    b.add_argument("--no-simd", action="store_true", help="build only the reference kernels")
    b.add_argument("-j", "--jobs", type=int, default=None, help="parallel compile jobs")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_build(args) -> int:
    from toolkit.firmware.boards import load_board
    from toolkit.firmware.build import FirmwareTooLarge, build_firmware

    board = load_board(args.board)
    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        fw = build_firmware(board, out_dir=args.out, defines=tuple(args.define), simd=not args.no_simd,
                            jobs=args.jobs, progress=progress)
    except FirmwareTooLarge as e:
        if args.json:
            print(json.dumps({"board": board.name, "fits": False, "error": str(e), "region": e.region,
                              "overflow": e.overflow}, indent=2))
            return 1
        raise
    if args.json:
        print(json.dumps(fw.summary(), indent=2))
    else:
        print(f"{board.name}: {fw.elf}")
        print(fw.size.report())
    return 0 if fw.size.fits else 1
