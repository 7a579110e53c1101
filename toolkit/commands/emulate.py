"""`odl emulate`: compile the training step to C, build it for the host and fine-tune on .npz data."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("emulate", help="train the generated C on the host (cffi) and report accuracy",
                       description="Lower MODEL for the update spec and precision, plan its memory, generate C, "
                       "build it with the odl kernels for the host and train it sample by sample on --data; "
                       "accuracy and loss on --eval before and after. Data files are .npz with x (samples in the "
                       "model's own layout: NCHW for PyTorch models; float32 or the model's input dtype) and y "
                       "(integer labels).")
    p.add_argument("model", help="model file (.pt2 from torch.export.save, or .json odl IR)")
    p.add_argument("--data", required=True, metavar="NPZ", help="training data (.npz with x and y)")
    p.add_argument("--eval", metavar="NPZ", help="evaluation data (.npz with x and y)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--update", default="last-layer", metavar="SPEC",
                   help="update spec: full, last-layer, biases:K, last:K, or a .toml file (default last-layer)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    p.add_argument("--calib", metavar="NPZ", help="calibration samples (x) for int8 PTQ (default: --data)")
    p.add_argument("--save", metavar="NPZ", help="write every trained tensor here, named as in the model")
    p.add_argument("--board", help="refuse when the plan does not fit this board")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-epoch shuffle")
    p.add_argument("--no-shuffle", action="store_true", help="train in file order")
    p.add_argument("--canary", action="store_true", help="debug build: check after every step that no kernel "
                   "wrote outside its planned buffers")
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from toolkit.emulate import emulate, load_npz

    train = load_npz(args.data, "--data")
    ev = load_npz(args.eval, "--eval") if args.eval else None
    calib = load_npz(args.calib, "--calib")[0] if args.calib else None
    hist = emulate(args.model, train, ev, epochs=args.epochs, spec=args.update, precision=args.precision,
                   calib=calib, save=args.save, progress=not args.no_progress and not args.json, board=args.board,
                   shuffle=not args.no_shuffle, seed=args.seed, canary=args.canary)
    out = {k: v for k, v in hist.items() if not k.startswith("_")}
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
        return 0
    print(f"emulated {out['steps']} training steps ({args.precision}, update {args.update}); peak SRAM "
          f"{out['plan']['peak_sram_bytes'] / 1024:.1f} KB, arena {out['plan']['arena_bytes']} bytes")
    for rec in out["history"]:
        line = f"  epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}"
        if "eval" in rec:
            line += f", eval accuracy {rec['eval']['accuracy']:.4f} loss {rec['eval']['loss']:.4f}"
        print(line)
    if "before" in out:
        b, a = out["before"], out["after"]
        print(f"before: accuracy {b['accuracy']:.4f}, loss {b['loss']:.4f}")
        print(f"after:  accuracy {a['accuracy']:.4f}, loss {a['loss']:.4f}")
    if args.save:
        print(f"saved trained tensors to {args.save}")
    return 0
