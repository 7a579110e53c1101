"""`odl plan`: the memory plan of a model's training (or inference) step against a board's SRAM / Flash."""

from __future__ import annotations



def register(sub) -> None:
    p = sub.add_parser("plan", help="plan the memory of a training step and check it fits a board",
                       description="Lower MODEL for the update spec and precision, place every transient buffer in "
                       "one arena (greedy best-fit over lifetimes) and report peak SRAM (arena, trainable slices, "
                       "optimizer state, io, stack) and Flash (weights, code) against the board's budget, with a "
                       "per-step timeline. Exits 1 with the largest contributors named when it does not fit.")
    p.add_argument("model", help="model file (.pt2 from torch.export.save, int8 .tflite, or .json odl IR); for a "
                   ".tflite with --mode infer, TFLite Micro's arena for the same model is shown next to odl's")
    p.add_argument("--board", required=True, help="board name (see `odl boards`)")
    p.add_argument("--update", default="last-layer", metavar="SPEC",
                   help="update spec: full, last-layer, biases:K, last:K, or a .toml file (default last-layer)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    p.add_argument("--calib", metavar="NPZ", help="calibration samples (x) for int8; default: random samples "
                   "(memory does not depend on them)")
    p.add_argument("--mode", default="train", choices=("train", "infer"), help="plan the training step (default) "
                   "or inference only")
    p.add_argument("--no-reorder", action="store_true", help="keep every gradient until the end of the backward "
                   "pass (no operator reordering), to compare")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--plot", metavar="PNG", help="write the memory timeline plot here")
    p.set_defaults(func=run)


def lower_for_plan(model_path, update: str, precision: str, calib=None, reorder: bool = True):
    import numpy as np

    from toolkit.emulate import load_graph, load_npz, prepare_graph
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    graph = load_graph(model_path)
    if precision == "int8" and graph.meta.get("precision") != "int8":
        if calib is not None:
            cx = load_npz(calib, "calibration")[0] if str(calib).endswith(".npz") else calib
        else:
            shape = graph.meta.get("torch_input_shape") or list(graph.tensor(graph.inputs[0]).shape)
            cx = np.random.default_rng(0).standard_normal((8,) + tuple(shape[1:])).astype(np.float32)
        graph = prepare_graph(graph, precision, cx)
    else:
        graph = prepare_graph(graph, precision)
    return build_program(graph, UpdateSpec.parse(update), precision, reorder=reorder)


def run(args) -> int:
    from toolkit.plan import format_plan, plan_memory, plot_plan

    program = lower_for_plan(args.model, args.update, args.precision, args.calib, not args.no_reorder)
    plan = plan_memory(program, board=args.board, mode=args.mode)
    if args.plot:
        plot_plan(plan, args.plot)
    tflm = None
    if args.mode == "infer" and str(args.model).endswith(".tflite"):
        from toolkit.frontends.tflite_fe import tflm_arena_bytes

        tflm = int(tflm_arena_bytes(args.model))
    if args.json:
        import json

        doc = json.loads(plan.to_json())
        if tflm is not None:
            doc["tflm_arena_bytes"] = tflm
        print(json.dumps(doc, indent=1))
    else:
        print(format_plan(plan))
        if tflm is not None:
            io = int(plan.sram.get("io", 0))
            print(f"TFLite Micro arena for the same model: {tflm} B; odl arena + io: {int(plan.arena_bytes) + io} B")
        if args.plot:
            print(f"plot: {args.plot}")
    if not plan.fits:
        import sys

        print(f"odl: error: {plan.refusal()}", file=sys.stderr)
        return 1
    return 0
