"""`odl doctor`: every external tool odl uses, found or missing, with how to install it."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check compilers, emulators and flash tools",
                       description="List every external tool (CMake, cross compilers, C libraries, QEMU, pyOCD, "
                       "OpenOCD) as found or missing, with the install hint. Exit code 1 if any tool needed to build "
                       "and emulate is missing (flash tools are optional).")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


OPTIONAL = {"pyocd", "openocd"}


def run(args) -> int:
    from toolkit.firmware.tools import doctor

    rows = doctor()
    missing_required = [r["name"] for r in rows if not r["found"] and r["name"] not in OPTIONAL]
    if args.json:
        print(json.dumps({"tools": rows, "ok": not missing_required}, indent=2))
    else:
        for r in rows:
            if r["found"]:
                print(f"  ok       {r['name']:<20} {r['version'] or r['path']}")
            else:
                tag = "optional" if r["name"] in OPTIONAL else "MISSING"
                print(f"  {tag:<8} {r['name']:<20} needed to {r['purpose']}; install: {r['hint']}")
        print("all required tools found" if not missing_required else
              f"missing: {', '.join(missing_required)} (run `make setup`)")
    return 0 if not missing_required else 1
