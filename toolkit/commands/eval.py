"""`odl eval`: accuracy and loss of the model on the device (inference runs there, over the serial link)."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate the model on the device (EVAL messages over the serial link)",
                       description="Boot the emulated board of the build (or open --port), check the model "
                       "signature, optionally write trained tensors (--weights, from `odl train --save` or the "
                       "build's last checkpoint with --checkpoint), run inference on every sample there and report "
                       "accuracy and mean cross-entropy.")
    p.add_argument("--build", required=True, metavar="DIR", help="build directory from `odl build`")
    p.add_argument("--port", help="serial port or URL of a real board (default: boot the emulated board)")
    p.add_argument("--data", required=True, metavar="NPZ", help="evaluation data (.npz with x and y)")
    p.add_argument("--weights", metavar="NPZ", help="trained tensors to load first (`odl train --save` output)")
    p.add_argument("--checkpoint", action="store_true", help="load the build's last training checkpoint first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from toolkit.device import DeviceSession
    from toolkit.device.session import CHECKPOINT
    from toolkit.emulate import load_npz
    from toolkit.errors import OdlError

    x, y = load_npz(args.data, "--data")
    with DeviceSession(args.build, port=args.port) as s:
        if args.checkpoint:
            ck = s.build.dir / CHECKPOINT
            if not ck.exists():
                raise OdlError(f"no checkpoint in {s.build.dir}: run `odl train --build {s.build.dir}` first")
            with np.load(ck) as z:
                s.write_state({n: z[n] for n in s.state})
        if args.weights:
            with np.load(args.weights) as z:
                names = s.program.trained_tensors()
                for ir in z.files:
                    if ir not in names:
                        raise OdlError(f"--weights: {ir} is not a trained tensor of this build "
                                       f"({', '.join(sorted(names))})")
                    s.write_buffer(names[ir].name, z[ir])
        res = s.evaluate(x, y)
    res["board"] = s.build.board
    if args.json:
        print(json.dumps(res, indent=1, sort_keys=True))
    else:
        print(f"on {res['board']}: accuracy {res['accuracy']:.4f}, loss {res['loss']:.4f} ({res['samples']} samples)")
    return 0
