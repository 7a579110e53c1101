"""`odl ping`: say HELLO to a board and ping it, over any serial URL or an emulated board booted for the purpose."""

from __future__ import annotations

import json
import os
import sys


def register(sub) -> None:
    p = sub.add_parser("ping", help="HELLO + PING a board (a serial URL, or an emulated board booted in QEMU)",
                       description="Connect to a board, print its HELLO (protocol version, firmware, board, max "
                       "payload) and the round-trip time of PINGs. --port takes any pyserial URL (/dev/ttyACM0, "
                       "socket://127.0.0.1:PORT, rfc2217://...); --board qemu-XX boots that emulated board in QEMU "
                       "first and shuts it down afterwards.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--port", help="pyserial URL of the board")
    g.add_argument("--board", help="an emulated board to boot in QEMU")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--count", type=int, default=3, help="number of PINGs")
    p.add_argument("--size", type=int, default=32, help="PING payload bytes")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per attempt")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def ping_url(url: str, count: int = 3, size: int = 32, baud: int = 115200, timeout: float = 2.0) -> dict:
    """HELLO then ``count`` PINGs of ``size`` random bytes; returns the HELLO fields and the round-trip times."""
    from toolkit.link import SerialLink

    with SerialLink(url, baudrate=baud, timeout=timeout) as link:
        h = link.hello()
        n = max(0, min(size, h.max_payload))
        rtts = [link.ping(os.urandom(n)) for _ in range(count)]
        stats = link.stats()
    return {"url": url, "protocol_version": h.protocol_version, "board": h.board, "fw_version": h.fw_version,
            "max_payload": h.max_payload, "staging_size": h.staging_size, "model_signature": h.model_signature,
            "ping_bytes": n, "rtt_s": rtts, "cycles": stats["cycles"], "instret": stats["instret"]}


def run(args) -> int:
    if args.port:
        res = ping_url(args.port, args.count, args.size, args.baud, args.timeout)
    else:
        from toolkit.errors import OdlError
        from toolkit.firmware.boards import load_board
        from toolkit.firmware.build import build_firmware
        from toolkit.firmware.qemu import QemuBoard

        board = load_board(args.board)
        if not board.qemu:
            raise OdlError(f"{board.name} is a real board: connect it and use `odl ping --port /dev/ttyACM0`")
        progress = None if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
        fw = build_firmware(board, progress=progress)
        with QemuBoard(board, fw.elf) as q:
            if progress:
                progress(f"booted {board.name} in QEMU, UART at {q.url}")
            res = ping_url(q.url, args.count, args.size, args.baud, args.timeout)
        res["qemu"] = board.run["machine"]
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"HELLO from {res['board']}: firmware {res['fw_version']}, protocol v{res['protocol_version']}, "
              f"max payload {res['max_payload']} B, staging {res['staging_size']} B, "
              f"model signature {res['model_signature']:#010x}")
        for i, t in enumerate(res["rtt_s"]):
            print(f"  PING {i + 1}: {res['ping_bytes']} bytes echoed in {t * 1000:.2f} ms")
        print(f"  device counters: cycles {res['cycles']}, instructions {res['instret']}")
    return 0
