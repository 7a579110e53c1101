"""The `odl` command. This module only parses arguments and calls the library; every command is also a Python API.

Each subcommand lives in ``toolkit/commands/<name>.py`` and exposes ``register(subparsers)``, which adds its parser
and sets ``func`` to a callable taking the parsed arguments and returning an exit code. Add a command by adding a
module and one line to COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from toolkit import __version__
from toolkit.errors import OdlError

COMMANDS = [
    "toolkit.commands.info",
    "toolkit.commands.bench",
    "toolkit.commands.boards",
    "toolkit.commands.doctor",
    "toolkit.commands.firmware",
    "toolkit.commands.run",
    "toolkit.commands.ping",
    "toolkit.commands.flash",
    "toolkit.commands.inspect",
    "toolkit.commands.plan",
    "toolkit.commands.emulate",
    "toolkit.commands.build",
    "toolkit.commands.train",
    "toolkit.commands.eval",
    "toolkit.commands.export",
    "toolkit.commands.demo",
    "toolkit.commands.infer",
    "toolkit.commands.search",
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="odl",
        description="On-device learning for microcontrollers: generate firmware for a board, run host-side "
        "emulation tests, and fine-tune a model on the device over a serial link.",
    )
    p.add_argument("--version", action="version", version=f"odl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        importlib.import_module(mod).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except OdlError as e:
        print(f"odl: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("odl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
