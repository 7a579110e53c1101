"""Export a model fine-tuned on a device: ``.tflite`` for int8 builds (toolkit.tflite.export: the graph compiled into
the firmware with the trained tensors swapped in; TFLite Micro then computes the board's logits), ``.pt2`` for fp32
builds of a PyTorch model (the source ExportedProgram with the trained parameters, layouts converted back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.errors import OdlError


class ExportError(OdlError):
    """The fine-tuned model cannot be exported in the asked format."""


def trained_from(build, weights=None) -> dict[str, np.ndarray]:
    """Trained tensors by IR name: from ``weights`` (an ``odl train --save`` .npz), else the build's checkpoint."""
    from toolkit.device.session import CHECKPOINT

    if weights is not None:
        with np.load(weights, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    ck = Path(build.dir) / CHECKPOINT
    if not ck.exists():
        raise ExportError(f"no training checkpoint in {build.dir}: give --weights or run `odl train` first")
    with np.load(ck) as z:
        state = {k: z[k] for k in z.files}
    return {ir: state[b.name] for ir, b in sorted(build.program.trained_tensors().items())}


def _to_torch_layout(graph, name: str, arr: np.ndarray) -> np.ndarray:
    for n in graph.nodes:
        if name in n.inputs and arr.ndim == 4:
            if n.op == "conv2d":
                return arr.transpose(0, 3, 1, 2)     # OHWI -> OIHW
            if n.op == "depthwise_conv2d":
                return arr.transpose(3, 0, 1, 2)     # 1HWC -> (C, 1, KH, KW)
    return arr


def export_model(build, out, weights=None) -> Path:
    """Write the fine-tuned model of ``build`` (a DeviceBuild) to ``out`` (.tflite or .pt2)."""
    out = Path(out)
    trained = trained_from(build, weights)
    prec = build.info["precision"]
    if out.suffix == ".tflite":
        if prec != "int8":
            raise ExportError(f".tflite export needs an int8 build; this one is {prec} (export .pt2)")
        from toolkit.tflite.export import export_tflite

        export_tflite(build.graph, trained, out)
        return out
    if out.suffix == ".pt2":
        if prec == "int8":
            raise ExportError("an int8 build exports to .tflite (the .pt2 would be the float model, not the one "
                              "the board runs)")
        src = build.info.get("source")
        if not src or not str(src).endswith(".pt2") or not Path(src).exists():
            raise ExportError(f".pt2 export needs the source .pt2 the build was made from (build.json source: "
                              f"{src})")
        import torch

        ep = torch.export.load(src)
        mod = ep.module()
        sd = mod.state_dict()
        for name, arr in trained.items():
            if name not in sd:
                raise ExportError(f"trained tensor {name} has no parameter of that name in {src}")
            t = torch.from_numpy(np.ascontiguousarray(_to_torch_layout(build.graph, name, arr.astype(np.float32))))
            if tuple(t.shape) != tuple(sd[name].shape):
                raise ExportError(f"{name}: trained shape {tuple(t.shape)} != the model's {tuple(sd[name].shape)}")
            sd[name] = t
        mod.load_state_dict(sd)
        args = ep.example_inputs[0] if getattr(ep, "example_inputs", None) else None
        if args is None:
            shape = build.graph.meta.get("torch_input_shape")
            args = (torch.zeros(*shape),)
        torch.export.save(torch.export.export(mod, tuple(args)), out)
        return out
    raise ExportError(f"unknown export format {out.suffix!r}: use .tflite (int8) or .pt2 (fp32)")
