"""`odl export`: the model fine-tuned on a device as .tflite (int8) or .pt2 (fp32 PyTorch models)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="export the fine-tuned model (.tflite for int8, .pt2 for fp32)",
                       description="Write the model of a build directory with its trained tensors: by default "
                       "the last checkpoint of `odl train` (the weights on the board), or --weights (an "
                       "`odl train --save` / `odl emulate --save` .npz). int8 builds -> .tflite (run by TFLite "
                       "Micro it gives the board's logits); fp32 builds of a .pt2 -> .pt2.")
    p.add_argument("--build", required=True, metavar="DIR")
    p.add_argument("--weights", metavar="NPZ", help="trained tensors (default: the build's last checkpoint)")
    p.add_argument("-o", "--out", required=True, help="output file: .tflite or .pt2")
    p.set_defaults(func=run)


def run(args) -> int:
    from toolkit.device import load_build
    from toolkit.device.export import export_model

    out = export_model(load_build(args.build), args.out, args.weights)
    print(f"wrote {out}")
    return 0
