"""`odl search`: the sparse update with the most accuracy gain whose training step fits a peak-SRAM budget."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("search", help="search the sparse update (layers, channel ratios, biases) that fits a "
                       "memory budget",
                       description="Contribution analysis (accuracy gain of updating the biases of the last k "
                       "layers, and of each layer's weights at ratio 1/8, 1/4, 1/2, 1, measured by running the "
                       "exact training step on the host; cached), then an exact DP and an evolutionary search that "
                       "maximise the summed gain with the planner's peak SRAM (as `odl plan`) <= the budget. Both "
                       "answers are trained and reported; the better one is written as a scheme TOML for "
                       "`odl emulate --update` / `odl build --update`.")
    p.add_argument("model", help="model file (.pt2 from torch.export.save, or .json odl IR)")
    p.add_argument("--data", required=True, metavar="NPZ", help="training samples (x, y) for the analysis")
    p.add_argument("--val", required=True, metavar="NPZ", help="validation samples (x, y) that gains are measured on")
    p.add_argument("--budget", metavar="SIZE", help="peak SRAM budget, e.g. 64KB, 48k, 65536 (default: the "
                   "board's SRAM)")
    p.add_argument("--board", help="board whose stack size (and SRAM, without --budget) the planner uses")
    p.add_argument("--precision", default="int8", choices=("fp32", "fp16", "int8"))
    p.add_argument("--calib", metavar="NPZ", help="calibration samples for int8 PTQ (default: the training x)")
    p.add_argument("--base", metavar="TOML", help="scheme file whose [optimizer] and [int8] settings the "
                   "analysis trains with (default: lr 0.001, momentum 0, QAS, master rounding)")
    p.add_argument("--lr", type=float, help="learning rate (overrides --base)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per analysed scheme (default 2)")
    p.add_argument("--seeds", type=int, default=1, help="sample orders averaged per scheme (default 1)")
    p.add_argument("--engine", default="c", choices=("c", "torch"),
                   help="c: the exact C step through cffi (default); torch: the PyTorch int8 simulation (slower)")
    p.add_argument("--population", type=int, default=24)
    p.add_argument("--generations", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="seed of the evolutionary search")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the analysis cache")
    p.add_argument("-o", "--output", metavar="TOML", help="write the chosen scheme here")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys
    from dataclasses import replace

    from toolkit.emulate import load_npz
    from toolkit.search import search
    from toolkit.train.spec import UpdateSpec

    train = load_npz(args.data, "training data")
    val = load_npz(args.val, "validation data")
    calib = load_npz(args.calib, "calibration")[0] if args.calib else None
    base = None
    if args.base:
        base = UpdateSpec.from_toml(args.base)
    if args.lr is not None:
        from toolkit.search.search import DEFAULT_BASE

        base = replace(base or UpdateSpec(**DEFAULT_BASE), lr=args.lr).check()
    res = search(args.model, train, val, budget=args.budget, board=args.board, precision=args.precision,
                 calib=calib, base_spec=base, epochs=args.epochs, seeds=args.seeds, engine=args.engine,
                 population=args.population, generations=args.generations, seed=args.seed,
                 cache=not args.no_cache, progress=not args.json)
    if args.output:
        with open(args.output, "w") as f:
            f.write(f"# odl search: {res['chosen']['scheme']} ({res['chosen']['method']}); planner peak SRAM "
                    f"{res['chosen']['peak_sram_bytes']} B <= budget {res['budget_bytes']} B\n")
            f.write(res["chosen"]["toml"])
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if not k.startswith("_")}, indent=1))
        return 0
    print(format_result(res))
    if args.output:
        print(f"scheme: {args.output}")
    sys.stdout.flush()
    return 0


def format_result(res: dict) -> str:
    an = res["analysis"]
    lines = [f"model {res['model']} ({res['precision']}), budget {res['budget_bytes']} B "
             f"({res['budget_bytes'] / 1024:.1f} KB); frozen inference needs {res['infer_peak_sram_bytes']} B",
             f"accuracy without update: {100 * an['baseline_accuracy']:.1f} % on {res['val_samples']} val samples",
             "bias gains (last k): " + ", ".join(f"k={k}: {100 * g:+.1f}" for k, g in enumerate(an["bias_gains"])
                                                  if k),
             f"weight gains on top of biases of the last {an['best_bias_k']} (ratio {'/'.join(an['ratios'][1:])}):"]
    for name, row in zip(res["layers"], an["weight_gains"]):
        lines.append(f"  {name:<24} " + " ".join(f"{100 * g:+6.1f}" for g in row[1:]))
    for name in ("dp", "evolution"):
        r = res[name]
        if r is None:
            lines.append(f"{name}: nothing fits")
            continue
        lines.append(f"{name:<9}: {r['scheme']}: peak SRAM {r['peak_sram_bytes']} B, predicted gain "
                     f"{100 * r['predicted_gain']:+.1f}, measured {100 * r['measured_gain']:+.1f} "
                     f"(accuracy {100 * r['accuracy']:.1f} %)")
    c = res["cache"]
    lines.append(f"chosen: {res['chosen']['method']}; cache {'hit' if c['hit'] else 'miss'} ({c['path']}); "
                 f"{res['planner_calls']} planner calls; {res['seconds']['total']:.1f} s")
    return "\n".join(lines)
