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
    p.add_argument("--input", metavar="NPY|NPZ", help="inputs (.npy or .npz)")
    p.add_argument("--output", metavar="NPY", help="where to write the outputs (.npy)")
    p.add_argument("--board", default="host", help="host (default); emulated boards need the device API")
    p.add_argument("--memory", action="store_true", help="no run: print the inference memory plan (weights in "
                   "Flash) next to TFLite Micro's arena for a .tflite")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    import numpy as np

    from toolkit.errors import OdlError
    from toolkit.infer import load_inputs, load_model

    if args.memory:
        from toolkit.infer import memory_comparison

        r = memory_comparison(args.model)
        if args.json:
            print(json.dumps(r, indent=1, sort_keys=True))
        else:
            tflm = "n/a" if r["tflm_arena"] is None else f"{r['tflm_arena']:,}"
            print(f"{r['model']}: odl arena {r['arena']:,} + io {r['io']:,} = {r['arena_plus_io']:,} bytes "
                  f"(peak SRAM {r['peak_sram']:,} with a {r['stack_estimate']:,}-byte stack estimate); "
                  f"TFLM arena {tflm} bytes; weights in Flash {r['flash_weights']:,} bytes")
        return 0
    if not args.input or not args.output:
        raise OdlError("odl infer needs --input X.npy|X.npz and --output Y.npy (or --memory)")
    t0 = time.perf_counter()
    inputs = load_inputs(args.input)
    from toolkit.infer import infer

    with load_model(args.model, board=args.board) as m:
        t1 = time.perf_counter()
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
