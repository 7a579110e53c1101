"""`odl demo` (`make demo`): the whole story on an emulated board with the digits example.

Pre-train a small CNN on clean digits (PyTorch), quantize it to int8, plan and build the qemu-cm55 firmware with
its sparse training step, boot the board in QEMU, measure accuracy on the shifted test digits on the device,
fine-tune on the device over the serial link, measure again, and save plots (loss curve, accuracy per epoch,
memory timeline) as PNG.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"


def register(sub) -> None:
    p = sub.add_parser("demo", help="pre-train, quantize, build, boot, fine-tune on an emulated board, plot",
                       description="The digits example end to end on an emulated board: pre-train (PyTorch), "
                       "int8 PTQ, memory plan, firmware build, boot in QEMU, accuracy on the device before, "
                       "fine-tuning on the device over the serial link, accuracy after, PNG plots.")
    p.add_argument("--board", default="qemu-cm55")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--update", default=str(DIGITS / "schemes" / "sparse.toml"), metavar="SPEC")
    p.add_argument("--precision", default="int8", choices=("fp32", "fp16", "int8"))
    p.add_argument("--train-samples", type=int, default=0, metavar="N",
                   help="fine-tune on the first N adaptation samples only (0: all)")
    p.add_argument("--test-samples", type=int, default=0, metavar="N",
                   help="evaluate on the first N shifted test samples only (0: all)")
    p.add_argument("--work", default=str(REPO / "build" / "demo"), metavar="DIR",
                   help="data, model and firmware build (default build/demo)")
    p.add_argument("--out", default=str(REPO / "docs" / "img"), metavar="DIR", help="where the PNGs go")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=run)


def _step(i: int, text: str) -> float:
    print(f"\n[{i}/7] {text}", flush=True)
    return time.perf_counter()


def _done(t0: float, text: str = "") -> None:
    print(f"      {text}{' ' if text else ''}({time.perf_counter() - t0:.1f} s)", flush=True)


def run(args) -> int:
    sys.path.insert(0, str(DIGITS))
    import data as D  # examples/digits
    import pretrain as P

    from toolkit.device import DeviceSession, build_for_device
    from toolkit.emulate import load_npz
    from toolkit.plan import format_plan

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    t = _step(1, "digits data: pre-training split, shifted (rotated, noisy) adaptation and test splits")
    paths = {k: work / f"{k}.npz" for k in ("pretrain", "adapt_train", "adapt_test", "calib")}
    if not all(p.exists() for p in paths.values()):
        paths = D.make_splits(work)
    tr, te, cal = load_npz(paths["adapt_train"]), load_npz(paths["adapt_test"]), load_npz(paths["calib"])
    if args.train_samples:
        tr = (tr[0][:args.train_samples], tr[1][:args.train_samples])
    if args.test_samples:
        te = (te[0][:args.test_samples], te[1][:args.test_samples])
    _done(t, f"{len(tr[1])} adaptation samples, {len(te[1])} test samples, {tr[0].shape[1:]} images;")

    t = _step(2, "pre-train the CNN on clean digits in PyTorch (cached)")
    model, pre_acc = P.pretrain(work, work / "model.pt2")
    _done(t, f"{model}: train accuracy {pre_acc:.3f};")

    t = _step(3, f"quantize ({args.precision}), lower the training step, plan memory, generate C, build firmware "
                 f"for {args.board}")
    b = build_for_device(model, args.board, work / f"build-{args.board}", spec=args.update,
                         precision=args.precision, calib=cal[0], progress=lambda s: print("      " + s, flush=True))
    print("\n".join("      " + ln for ln in format_plan(b.plan, timeline=False).splitlines()))
    fw = b.info["firmware"]
    _done(t, f"firmware {fw['flash_used'] / 1024:.1f} KB Flash, {fw['sram_used'] / 1024:.1f} KB SRAM static;")

    t = _step(4, f"boot {args.board} in QEMU, check the model signature, accuracy on the device before")
    with DeviceSession(b.dir) as s:
        print(f"      device {s.hello.board} at {s.port}: model {s.hello.model_signature:08x}", flush=True)
        before = s.evaluate(*te)
        _done(t, f"before fine-tuning: accuracy {before['accuracy']:.3f}, loss {before['loss']:.3f};")

        t = _step(5, f"fine-tune on the device over the serial link: {args.epochs} epoch(s) of "
                     f"{len(tr[1])} samples, batch 1")
        hist = s.train(*tr, epochs=args.epochs, eval=te, progress=True, save=work / "trained.npz")
        for rec in hist["history"]:
            print(f"      epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}, running accuracy "
                  f"{rec['train_accuracy_running']:.3f}, test accuracy {rec['eval']['accuracy']:.3f}")
        _done(t, f"{hist['steps']} steps;")

        t = _step(6, "accuracy on the device after (weights stay on the board), trained tensors read back")
        after = s.evaluate(*te)
        _done(t, f"after fine-tuning: accuracy {after['accuracy']:.3f}, loss {after['loss']:.3f}; trained "
                 f"tensors in {work / 'trained.npz'};")

    t = _step(7, f"plots -> {out}")
    pngs = plots(hist, before, after, b, out, args.board)
    _done(t, ", ".join(p.name for p in pngs) + ";")
    res = {"board": args.board, "precision": args.precision, "update": str(args.update), "epochs": args.epochs,
           "train_samples": int(len(tr[1])), "test_samples": int(len(te[1])), "before": before, "after": after,
           "history": hist["history"], "plan": hist["plan"], "firmware": fw,
           "seconds": time.perf_counter() - t_all, "plots": [str(p) for p in pngs]}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(f"\ndigits on {args.board}: accuracy {before['accuracy']:.3f} -> {after['accuracy']:.3f} "
          f"after {args.epochs} epoch(s) of on-device fine-tuning ({res['seconds']:.0f} s in all)")
    return 0


def plots(hist, before, after, build, out: Path, board: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from toolkit.plan import plot_plan

    paths = []
    losses = np.asarray(hist["step_losses"], float)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(losses, lw=0.5, alpha=0.35, label="per step")
    w = max(1, min(50, len(losses) // 10))
    if len(losses) >= w:
        ax.plot(np.arange(w - 1, len(losses)), np.convolve(losses, np.ones(w) / w, "valid"), lw=1.5,
                label=f"running mean ({w})")
    ax.set_xlabel("training step (one sample)")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"on-device fine-tuning loss ({board}, {hist['precision']})")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "demo_loss.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    eps = [0] + [r["epoch"] for r in hist["history"]]
    acc = [hist["before"]["accuracy"]] + [r["eval"]["accuracy"] for r in hist["history"]]
    ax.plot(eps, [100 * a for a in acc], marker="o", label="test accuracy (host, weights read back)")
    ax.scatter([0, eps[-1]], [100 * before["accuracy"], 100 * after["accuracy"]], color="red", marker="x", s=60,
               zorder=3, label="test accuracy measured on the device")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_xticks(eps)
    ax.set_title("shifted digits: before and after fine-tuning")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths.append(out / "demo_accuracy.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    plan = build.plan
    paths.append(Path(plot_plan(plan, out / "demo_memory.png")))
    return paths
