"""`odl run --board qemu-XX`: boot the board's firmware in QEMU with its UART on a local socket."""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    p = sub.add_parser("run", help="boot an emulated board in QEMU and serve its UART on a local socket",
                       description="Build the firmware if needed, boot it in QEMU with the UART on "
                       "tcp://127.0.0.1:PORT, print the pyserial URL (socket://...) to connect to, and keep it "
                       "running until Ctrl-C.")
    p.add_argument("--board", required=True, help="an emulated board (see `odl boards`)")
    p.add_argument("--port", type=int, default=None, help="TCP port for the UART (default: a free one)")
    p.add_argument("--elf", default=None, help="firmware ELF to boot (default: build the board's firmware)")
    p.add_argument("--no-icount", action="store_true", help="run as fast as possible instead of -icount shift=0")
    p.add_argument("--no-hello", action="store_true", help="do not connect once to print the board's HELLO")
    p.set_defaults(func=run)


def _hello(url: str) -> None:
    """Connect once, print the HELLO, disconnect (QEMU serves one client at a time: the port is free again)."""
    from toolkit.link import LinkError, SerialLink

    try:
        with SerialLink(url, timeout=2.0, retries=3) as link:
            h = link.hello()
        print(f"HELLO from {h.board}: firmware {h.fw_version}, protocol v{h.protocol_version}, "
              f"max payload {h.max_payload} B", flush=True)
    except LinkError as e:
        print(f"warning: the board did not answer HELLO: {e}", file=sys.stderr, flush=True)


def run(args) -> int:
    from toolkit.errors import OdlError
    from toolkit.firmware.boards import load_board
    from toolkit.firmware.build import build_firmware
    from toolkit.firmware.qemu import QemuBoard

    board = load_board(args.board)
    if not board.qemu:
        raise OdlError(f"{board.name} is a real board; flash it with `odl flash --board {board.name}`")
    elf = args.elf or build_firmware(board, progress=lambda s: print(s, file=sys.stderr, flush=True)).elf
    with QemuBoard(board, elf, port=args.port, icount=not args.no_icount) as q:
        print(f"{board.name} is running in QEMU ({board.run['machine']}); its UART is at {q.url}", flush=True)
        if not args.no_hello:
            _hello(q.url)
        print("connect with `odl ping --port " + q.url + "`; Ctrl-C stops it", flush=True)
        try:
            while q.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopping QEMU", file=sys.stderr)
            return 0
        raise OdlError(f"QEMU exited: {q.log().strip()[-500:]}")
