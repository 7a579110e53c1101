"""`odl train`: fine-tune the model of a build directory on the device over the serial link."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("train", help="fine-tune on the device (emulated board or --port) over the serial link",
                       description="Boot the emulated board of the build (or open the real board at --port), check "
                       "the firmware's model signature against DIR/build.json, stream labelled samples in "
                       "TRAIN_STEP messages, read the trained tensors back (CRC-checked) and evaluate them on the "
                       "host. Progress (state + position) is checkpointed in DIR: after a reset or a lost link, "
                       "`odl train --resume` continues from the last checkpoint. The sample order is the one of "
                       "`odl emulate` for the same --seed, so int8 weights equal the emulation's byte for byte.")
    p.add_argument("--build", required=True, metavar="DIR", help="build directory from `odl build`")
    p.add_argument("--port", help="serial port or URL of a real board (default: boot the emulated board in QEMU)")
    p.add_argument("--data", required=True, metavar="NPZ", help="training data (.npz with x and y)")
    p.add_argument("--eval", metavar="NPZ", help="evaluation data, evaluated on the host before and after")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, help="learning rate (default: the update spec's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-epoch shuffle")
    p.add_argument("--no-shuffle", action="store_true", help="train in file order")
    p.add_argument("--save", metavar="NPZ", help="write the trained tensors here (names as `odl emulate --save`)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=64, metavar="N",
                   help="read the state back and save progress every N samples (default 64)")
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from toolkit.device import DeviceSession
    from toolkit.emulate import load_npz

    x, y = load_npz(args.data, "--data")
    ev = load_npz(args.eval, "--eval") if args.eval else None
    with DeviceSession(args.build, port=args.port) as s:
        if not args.json:
            h = s.hello
            print(f"device {h.board} (firmware {h.fw_version}) at {s.port}: model {h.model_signature:08x} "
                  f"matches {args.build}", flush=True)
        hist = s.train(x, y, epochs=args.epochs, eval=ev, lr=args.lr, shuffle=not args.no_shuffle, seed=args.seed,
                       resume=args.resume, checkpoint_every=args.checkpoint_every,
                       progress=not args.no_progress and not args.json, save=args.save)
    out = {k: v for k, v in hist.items() if not k.startswith("_")}
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
        return 0
    if out.get("resumed_from"):
        r = out["resumed_from"]
        print(f"resumed at epoch {r['epoch'] + 1}, sample {r['pos']} ({r['steps']} steps already done)")
    print(f"trained {out['steps']} steps on {out['board']} in {out['seconds']:.1f} s")
    for rec in out["history"]:
        line = f"  epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}"
        if "eval" in rec:
            line += f", eval accuracy {rec['eval']['accuracy']:.4f} loss {rec['eval']['loss']:.4f}"
        print(line)
    if out.get("before"):
        b, a = out["before"], out["after"]
        print(f"before: accuracy {b['accuracy']:.4f}, loss {b['loss']:.4f}")
        print(f"after:  accuracy {a['accuracy']:.4f}, loss {a['loss']:.4f}")
    if args.save:
        print(f"saved trained tensors to {args.save}")
    return 0
