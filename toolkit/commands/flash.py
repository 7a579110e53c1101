"""`odl flash --board B`: build and flash a real board with pyOCD (Cortex-M) or OpenOCD (RISC-V)."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("flash", help="build and flash a real board (pyOCD / OpenOCD)",
                       description="Build the board's firmware (or take --elf) and flash it with the tool named in "
                       "its board.toml: pyOCD for Cortex-M boards, OpenOCD for RISC-V. Says plainly what is "
                       "needed when the tool is missing.")
    p.add_argument("--board", required=True, help="a real board (see `odl boards`)")
    p.add_argument("--elf", default=None, help="firmware ELF (default: build it)")
    p.add_argument("--probe", default=None, help="debug probe unique id (pyOCD --uid)")
    p.add_argument("--dry-run", action="store_true", help="print the flash command instead of running it")
    p.set_defaults(func=run)


def run(args) -> int:
    from toolkit.firmware.boards import load_board
    from toolkit.firmware.build import build_firmware
    from toolkit.firmware.flash import flash, flash_command

    board = load_board(args.board)
    if args.elf:
        elf = args.elf
    else:
        flash_command(board, board.path / "firmware.elf", args.probe)  # fail early if the tool is missing
        fw = build_firmware(board, progress=lambda s: print(s, file=sys.stderr, flush=True))
        print(f"{board.name}: {fw.elf}\n{fw.size.report()}")
        elf = fw.elf
    if args.dry_run:
        print(" ".join(str(c) for c in flash_command(board, elf, args.probe)))
        return 0
    out = flash(board, elf, args.probe)
    print(out)
    print(f"flashed {board.name}")
    return 0
