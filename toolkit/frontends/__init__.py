"""Frontends: read a model file into the IR (toolkit.ir.Graph).

``load(path)`` dispatches on the extension: ``.pt2`` (torch.export.save) -> fp32 Graph; ``.json`` -> an odl IR
document (Graph.to_json); ``.tflite`` -> int8 Graph (toolkit.frontends.tflite_fe).
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import OdlError


def load(path: str | Path, input_shape=None):
    """Read ``path`` into a Graph, choosing the frontend by extension. ``input_shape`` (NCHW for PyTorch), when
    given, must match the shape the model was exported with."""
    from toolkit.ir.graph import Graph

    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".pt2":
        from toolkit.frontends.torch_fe import load_model

        g = load_model(path)
    elif ext == ".json":
        if not path.exists():
            raise OdlError(f"{path}: no such file")
        g = Graph.from_json(path)
    elif ext == ".tflite":
        from toolkit.frontends.tflite_fe import from_tflite

        g = from_tflite(path)
    else:
        raise OdlError(f"{path}: unknown model format {ext or '(no extension)'!r} (supported: .pt2 from "
                       "torch.export.save, .json odl IR, int8 .tflite)")
    if input_shape is not None:
        want = tuple(int(s) for s in input_shape)
        have = tuple(g.meta.get("torch_input_shape") or g.tensor(g.inputs[0]).shape)
        if want != have:
            raise OdlError(f"{path}: the model was exported for input shape {have}, not {want} (a .pt2 file has "
                           "static shapes: export it again with the new shape)")
    return g


def from_torch(module, input_shape=(1, 1, 8, 8), name=None):
    """An fp32 Graph from a torch.nn.Module (see toolkit.frontends.torch_fe)."""
    from toolkit.frontends.torch_fe import from_torch as _f

    return _f(module, input_shape, name)


def from_tflite(path_or_bytes, name=None):
    """An int8 Graph from a .tflite file or its bytes (see toolkit.frontends.tflite_fe)."""
    from toolkit.frontends.tflite_fe import from_tflite as _f

    return _f(path_or_bytes, name)


def load_model(path, name=None):
    """An fp32 Graph from a .pt2 file written by torch.export.save."""
    from toolkit.frontends.torch_fe import load_model as _l

    return _l(path, name)
