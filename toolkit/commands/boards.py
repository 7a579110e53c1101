"""`odl boards`: the boards odl knows (one folder each under boards/)."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("boards", help="list the boards (emulated and real)",
                       description="List every board under boards/: CPU, Flash/SRAM, UART and how it runs "
                       "(a QEMU machine, or a flash tool).")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from toolkit.firmware.boards import list_boards

    boards = list_boards()
    if args.json:
        print(json.dumps([b.summary() for b in boards], indent=2))
        return 0
    print(f"{'board':<18} {'cpu':<22} {'Flash':>8} {'SRAM':>8}  runs on")
    for b in boards:
        how = f"QEMU {b.run['machine']}" if b.qemu else f"{b.flash_tool} ({b.run.get('target', '')})"
        print(f"{b.name:<18} {b.cpu:<22} {b.memory.flash_size // 1024:>5} KB {b.memory.sram_size // 1024:>5} KB  {how}")
    return 0
