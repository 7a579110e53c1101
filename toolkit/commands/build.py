"""`odl build`: quantize, plan, generate C and build a board's firmware with the model inside."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("build", help="build firmware for a board with a model's training step compiled in",
                       description="Quantize MODEL (int8: PTQ on --calib), lower its training step for the update "
                       "spec, plan its memory against the board (refused with the planner's reason when it does "
                       "not fit), generate C and build the board's firmware with it. Writes DIR/build.json (board, "
                       "model signature, tensor ids/names/shapes/dtypes, precision, spec, memory), DIR/model/ "
                       "(model.c, model.h) and DIR/fw/firmware/firmware.elf. Then: `odl train --build DIR`.")
    p.add_argument("model", help="model file (.pt2 from torch.export.save, .json odl IR, or int8 .tflite)")
    p.add_argument("--board", required=True, help="board name (see `odl boards`)")
    p.add_argument("--update", default="last-layer", metavar="SPEC",
                   help="update spec: full, last-layer, biases:K, last:K, or a .toml file (default last-layer)")
    p.add_argument("--precision", default="int8", choices=("fp32", "fp16", "int8"), help="default int8")
    p.add_argument("--calib", metavar="NPZ", help="calibration samples (x) for int8 PTQ")
    p.add_argument("--no-simd", action="store_true", help="reference kernels only (no DSP/MVE/RVV paths)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="build directory")
    p.add_argument("--json", action="store_true", help="print build.json")
    p.set_defaults(func=run)


def run(args) -> int:
    from toolkit.device import build_for_device
    from toolkit.emulate import load_npz
    from toolkit.errors import OdlError

    calib = load_npz(args.calib, "--calib")[0] if args.calib else None
    if args.precision == "int8" and calib is None and not str(args.model).endswith(".tflite"):
        raise OdlError("--precision int8 needs --calib data.npz (samples to calibrate the quantization)")
    say = (lambda s: None) if args.json else (lambda s: print(s, flush=True))
    b = build_for_device(args.model, args.board, args.out, spec=args.update, precision=args.precision,
                         calib=calib, simd=not args.no_simd, progress=say)
    if args.json:
        print(json.dumps(b.info, indent=1, sort_keys=True))
        return 0
    from toolkit.plan import format_plan

    print(format_plan(b.plan, timeline=False))
    fw = b.info["firmware"]
    print(f"firmware {b.elf}: Flash {fw['flash_used'] / 1024:.1f} / {fw['flash_size'] / 1024:.0f} KB, "
          f"SRAM {fw['sram_used'] / 1024:.1f} / {fw['sram_size'] / 1024:.0f} KB (static)")
    print(f"model signature {b.info['signature']}, {len(b.info['tensors'])} tensors on the link; "
          f"next: odl train --build {args.out} --data train.npz")
    return 0
