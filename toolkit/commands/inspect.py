"""`odl inspect MODEL`: the model's graph as odl reads it: per-node shapes, MACs, parameters, activation bytes."""

from __future__ import annotations

import json


def _shape(text: str) -> tuple[int, ...]:
    import argparse

    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,1,8,8, got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return shape


def register(sub) -> None:
    p = sub.add_parser("inspect", help="print a model's graph: shapes, MACs, parameters, activation sizes",
                       description="Read MODEL (.pt2 from torch.export.save, an int8 .tflite, or an odl IR .json) into odl's IR and "
                       "print every node with its output shape (NHWC), multiply-accumulates, parameters and "
                       "activation bytes, plus totals.")
    p.add_argument("model", metavar="MODEL", help="model file (.pt2, .tflite or .json)")
    p.add_argument("--input-shape", type=_shape, default=None, metavar="1,C,H,W",
                   help="expected input shape in the model's layout (a .pt2 file has the shape it was exported "
                   "with; a different one is an error)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def inspect_model(path, input_shape=None) -> dict:
    from toolkit.frontends import load
    from toolkit.ir.summary import summarize

    return summarize(load(path, input_shape=input_shape))


def run(args) -> int:
    from toolkit.ir.summary import format_summary

    s = inspect_model(args.model, args.input_shape)
    print(json.dumps(s, indent=2) if args.json else format_summary(s))
    return 0
