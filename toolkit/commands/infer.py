"""`odl infer`: run a model's generated C on inputs from an .npy / .npz file and write the outputs to an .npy."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("infer", help="run the model's generated C on .npy / .npz inputs",
                       description="Lower MODEL, plan it, generate C, build it (host: cffi) and run it on every "
                       "input. Inputs and outputs are in the model's own dtypes: int8 for a fully quantized "
                       ".tflite, float32 at edges the file quantizes / dequantizes itself. --input X.npy holds one "
                       "input shaped as the model's input, or a stack of them along a new leading axis; an .npz "
                       "holds such arrays, run in file order. The output .npy stacks the outputs the same way.")
    p.add_argument("model", help="model file (.tflite, .pt2, or .json odl IR)")
    p.add_argument("--input", required=True, metavar="NPY|NPZ", help="inputs (.npy or .npz)")
    p.add_argument("--output", required=True, metavar="NPY", help="where to write the outputs (.npy)")
    p.add_argument("--board", default="host", help="host (default); emulated boards need the device API")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    import numpy as np

    from toolkit.infer import load_inputs, load_model

    t0 = time.perf_counter()
    inputs = load_inputs(args.input)
    m = load_model(args.model, board=args.board)
    t1 = time.perf_counter()
    if len(inputs) == 1:
        y = m.run(inputs[0])
    else:
        from toolkit.infer import infer

        y = infer(m, inputs)
    t2 = time.perf_counter()
    np.save(args.output, y)
    n = 1 if len(inputs) == 1 and inputs[0].shape == m.input.shape else int(y.shape[0])
    out = dict(m.info(), samples=n, output_file=str(args.output), output_shape=list(y.shape),
               seconds={"build": round(t1 - t0, 3), "run": round(t2 - t1, 3)})
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    else:
        print(f"ran {n} input(s) on {out['board']} ({out['precision']}): {out['input']['dtype']} "
              f"{tuple(out['input']['shape'])} -> {out['output']['dtype']} {tuple(out['output']['shape'])}; "
              f"arena {out['arena_bytes']} bytes; wrote {args.output} {tuple(y.shape)}")
    return 0
