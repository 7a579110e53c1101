"""`odl bench kernels --board host`: kernel throughput per code path, next to PyTorch."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (kernels on the host)",
                       description="Measure odl's kernels. `odl bench kernels --board host` times every matmul-based "
                       "kernel (int8/fp16/fp32; forward, weight gradient, input gradient) on each code path and "
                       "the same op in PyTorch (one thread), and saves the records under bench/results/.")
    bsub = p.add_subparsers(dest="bench_what", metavar="WHAT")
    k = bsub.add_parser("kernels", help="kernel GMAC/s per code path vs PyTorch",
                        description="GMAC/s of each kernel and pass on each code path, and PyTorch's on the same "
                        "shape, as a ratio. Results are saved to bench/results/<board>-kernels.json.")
    k.add_argument("--board", default="host", help="where to run: host (emulated boards come with the SIMD issue)")
    k.add_argument("--dtype", action="append", choices=["int8", "fp16", "fp32"],
                   help="only this dtype (repeatable; default all)")
    k.add_argument("--pass", dest="passes", action="append", choices=["forward", "weight_grad", "input_grad"],
                   help="only this pass (repeatable; default all)")
    k.add_argument("--quick", action="store_true",
                   help="only the four CMSIS-NN anchor shapes, shorter timing")
    k.add_argument("--json", action="store_true", help="print the records as a JSON list")
    k.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    k.set_defaults(func=run_kernels)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_kernels(args) -> int:
    from toolkit.bench import kernels as B
    from toolkit.errors import OdlError

    if args.board != "host":
        raise OdlError(f"odl bench kernels --board {args.board}: only 'host' is measured so far "
                       "(instruction counts on emulated boards come with the SIMD kernels)")
    records = B.bench_host(dtypes=tuple(args.dtype or ("int8", "fp16", "fp32")),
                           passes=tuple(args.passes or B.PASSES),
                           shapes=B.QUICK_SHAPES if args.quick else None,
                           min_time=0.02 if args.quick else 0.05, progress=not args.json)
    if not args.no_save:
        path = B.save_results(records, f"{args.board}-kernels")
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(B.format_table(records))
        if not args.no_save:
            print(f"saved {path}")
    return 0
