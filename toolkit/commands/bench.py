"""`odl bench kernels --board host`: kernel throughput per code path, next to PyTorch.
`odl bench train --board host`: one training step of the generated C vs PyTorch eager, plan peak vs PyTorch peak."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: kernels and training steps, on the host and on emulated boards",
                       description="Measure odl's kernels. `odl bench kernels --board host` times every matmul-based "
                       "kernel (int8/fp16/fp32; forward, weight gradient, input gradient) on each code path and "
                       "the same op in PyTorch (one thread); `odl bench train --board host` times one training step "
                       "of the generated C next to PyTorch eager and compares peak memory. With --board qemu-XX both count "
                       "instructions exactly on the emulated board instead. Records are saved under bench/results/.")
    bsub = p.add_subparsers(dest="bench_what", metavar="WHAT")
    k = bsub.add_parser("kernels", help="kernel GMAC/s per code path vs PyTorch",
                        description="--board host: GMAC/s of each kernel and pass on each code path, and PyTorch's "
                        "on the same shape, as a ratio. --board qemu-cm4|qemu-cm7|qemu-cm55|qemu-rv32|all: exact "
                        "instruction counts in QEMU, MACs/instruction of the reference C and the board's SIMD path, "
                        "speed-up, the ISA's ideal and CMSIS-NN's figure on the anchor shapes (docs/benchmarks.md). "
                        "Results are saved to bench/results/<board>-kernels.json.")
    k.add_argument("--board", default="host",
                   help="where to run: host (wall clock, GMAC/s) or an emulated board qemu-cm4 | qemu-cm7 | "
                   "qemu-cm55 | qemu-rv32 | all (exact instruction counts in QEMU: MACs/instruction of the "
                   "reference C and the board's SIMD path)")
    k.add_argument("--dtype", action="append", choices=["int8", "fp16", "fp32"],
                   help="only this dtype (repeatable; default all)")
    k.add_argument("--pass", dest="passes", action="append", choices=["forward", "weight_grad", "input_grad"],
                   help="only this pass (repeatable; default all)")
    k.add_argument("--quick", action="store_true",
                   help="only the four CMSIS-NN anchor shapes, shorter timing")
    k.add_argument("--json", action="store_true", help="print the records as a JSON list")
    k.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    k.add_argument("--plot", metavar="PNG", help="emulated boards: also draw MACs/instruction per kernel to PNG")
    k.add_argument("--markdown", action="store_true", help="emulated boards: print the table as Markdown")
    k.set_defaults(func=run_kernels)
    t = bsub.add_parser("train", help="training step time and peak memory: generated C vs PyTorch",
                        description="Time one training step (batch 1) of the C that odl generates, built for the "
                        "host and called through cffi, and the same step in PyTorch eager (one thread) on the same "
                        "model and update; compare the memory plan's peak SRAM with PyTorch's measured peak. "
                        "Results are saved to bench/results/<board>-train.json.")
    t.add_argument("--board", default="host",
                   help="host (generated C through cffi vs PyTorch) or an emulated board qemu-cm4|qemu-cm7|"
                   "qemu-cm55|qemu-rv32 (instructions per training step, reference vs SIMD kernels, stack-painted "
                   "peak SRAM next to the planner's; the digits CNN)")
    t.add_argument("--precision", action="append", choices=["int8", "fp16", "fp32"],
                   help="only this precision (repeatable; default all)")
    t.add_argument("--update", action="append",
                   help="update: full, last-layer, biases:K, last:K, sparse (the digits example's scheme) or a "
                   ".toml spec (repeatable; default last-layer, sparse, full)")
    t.add_argument("--model", default=None,
                   help="a .pt2 model (torch.export.save); default: the digits example's CNN, random weights")
    t.add_argument("--quick", action="store_true", help="shorter timing loops")
    t.add_argument("--json", action="store_true", help="print the records as a JSON list")
    t.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    t.set_defaults(func=run_train)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _report(args, records: list, module, name: str) -> int:
    """Save (unless --no-save) and print the records of a host benchmark: JSON or the module's table."""
    path = None if args.no_save else module.save_results(records, name)
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(module.format_table(records))
        if path is not None:
            print(f"saved {path}")
    return 0


def run_kernels(args) -> int:
    from toolkit.bench import kernels as B

    if args.board != "host":
        return run_kernels_target(args)
    records = B.bench_host(dtypes=tuple(args.dtype or ("int8", "fp16", "fp32")),
                           passes=tuple(args.passes or B.PASSES),
                           shapes=B.QUICK_SHAPES if args.quick else None,
                           min_time=0.02 if args.quick else 0.05, progress=not args.json)
    return _report(args, records, B, f"{args.board}-kernels")


def run_train(args) -> int:
    from toolkit.bench import train as B

    if args.board != "host":
        return run_train_device(args)
    model = None
    if args.model:
        model = B.load_pt2(args.model)
    records = B.bench_host(precisions=tuple(args.precision or ("fp32", "fp16", "int8")),
                           updates=tuple(args.update or ("last-layer", "sparse", "full")), model=model,
                           min_time=0.05 if args.quick else 0.2, progress=not args.json)
    return _report(args, records, B, f"{args.board}-train")


def run_kernels_target(args) -> int:
    """`--board qemu-*|all`: exact instruction counts on the emulated boards (toolkit.bench.targets)."""
    import sys

    from toolkit.bench import targets as T
    from toolkit.errors import OdlError

    boards = list(T.EMULATED) if args.board == "all" else [args.board]
    for b in boards:
        if b not in T.EMULATED:
            raise OdlError(f"odl bench kernels --board {b}: choose host, all or one of {', '.join(T.EMULATED)}")
    items = T.QUICK_ITEMS if args.quick else T.ITEMS
    say = None if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    records = []
    for b in boards:
        recs = T.bench_board(b, items=items, dtypes=args.dtype, passes=args.passes, progress=say)
        records += recs
        if not args.no_save:
            path = T.save_results(recs, b)
            if not args.json:
                print(f"saved {path}", file=sys.stderr)
    if args.plot:
        png = T.plot(records, args.plot)
        if not args.json:
            print(f"plot: {png}", file=sys.stderr)
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(T.format_markdown(records) if args.markdown else T.format_table(records))
    return 0


def run_train_device(args) -> int:
    """`odl bench train --board qemu-XX`: toolkit.bench.device_train on an emulated board."""
    from pathlib import Path

    from toolkit.bench import device_train as D
    from toolkit.errors import OdlError
    from toolkit.firmware.boards import load_board

    board = load_board(args.board)
    if not board.emulated:
        raise OdlError(f"odl bench train --board {args.board}: instruction counts need an emulated board "
                       "(qemu-cm4, qemu-cm7, qemu-cm55, qemu-rv32)")
    if args.model:
        raise OdlError("odl bench train on a board measures the digits CNN; --model is for --board host")
    updates = args.update or ["full"]
    records = []
    for upd in updates:
        records += D.bench_device(args.board, tuple(args.precision or ("int8", "fp16", "fp32")), upd,
                                  progress=None if args.json else (lambda s: print(s, flush=True)))
    if not args.no_save:
        out = Path(__file__).resolve().parents[2] / "bench" / "results" / f"{args.board}-device-train.json"
        out.write_text(json.dumps(records, indent=1))
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(D.format_table(records))
        if not args.no_save:
            print(f"saved {out}")
    failed = [r for r in records if "error" in r]
    if failed:
        raise OdlError(f"{len(failed)} configuration(s) failed on {args.board}: {failed[0]['error']}")
    return 0
