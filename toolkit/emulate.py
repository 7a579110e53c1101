"""Host emulation: compile a model's training step to C (toolkit.train -> plan -> codegen), build it with the csrc
kernels through cffi, and train / evaluate it sample by sample on the host.

``emulate(model, train=(x, y), eval=(x, y), epochs=1, spec="last-layer", precision="fp32") -> history`` where
``history["before"]`` / ``history["after"]`` hold the accuracy and mean cross-entropy loss on the eval data. Samples
are in the layout of the model's own framework (NCHW for PyTorch models), float32 or the model's input dtype; labels
are integer class indices.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from toolkit.errors import DTypeError, OdlError


class DataError(OdlError):
    """A data file or array that cannot be used: missing x/y, wrong shapes, labels out of range."""


# ---------------------------------------------------------------------------------------------- data ----

def load_npz(path, what: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from an .npz file with arrays ``x`` (samples) and ``y`` (integer labels); clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise DataError(f"{what} file {path}: missing array(s) {', '.join(missing)} (found: "
                                f"{', '.join(keys) or 'none'}); it needs x (samples) and y (integer labels)")
            return np.asarray(z["x"]), np.asarray(z["y"])
    except DataError:
        raise
    except Exception as e:  # not a zip, corrupt, pickled objects
        raise DataError(f"{what} file {path}: not a readable .npz ({e})") from e


def _check_xy(x, y, what: str, ncls: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{what}: y must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{what}: y must hold integer class labels, got dtype {y.dtype}")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{what}: x has {x.shape[0]} samples but y has {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= ncls):
        raise DataError(f"{what}: labels must be in [0, {ncls}) for this model, got [{y.min()}, {y.max()}]")
    return x, y.astype(np.int64)


# ---------------------------------------------------------------------------------------------- model ----

def load_graph(model, sample_shape=None):
    """A Graph from a Graph, a model file (toolkit.frontends.load) or a torch.nn.Module (needs ``sample_shape``)."""
    from toolkit.ir import Graph

    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, Path)):
        from toolkit.frontends import load

        return load(model)
    try:
        import torch

        if isinstance(model, torch.nn.Module):
            from toolkit.frontends import from_torch

            if sample_shape is None:
                raise OdlError("a torch.nn.Module needs sample data to fix its input shape")
            return from_torch(model, (1,) + tuple(sample_shape))
    except ImportError:
        pass
    raise OdlError(f"cannot read a model from {type(model).__name__}; give a Graph, a .pt2/.json path or an "
                   f"nn.Module")


def prepare_graph(graph, precision: str, calib=None, train_x=None):
    """The graph for ``precision``: quantized for int8 (PTQ on ``calib``, else on the training samples)."""
    if precision != "int8":
        if graph.meta.get("precision") == "int8":
            raise OdlError(f"graph {graph.name} is int8; it can only be trained with --precision int8")
        return graph
    if graph.meta.get("precision") == "int8":
        return graph
    from toolkit.quant.ptq import quantize

    data = calib if calib is not None else train_x
    if data is None:
        raise OdlError("precision int8 needs calibration samples (calib=...) to quantize the fp32 model")
    return quantize(graph, np.asarray(data, np.float32))


def to_model_input(graph, x, dtype: str) -> np.ndarray:
    """Samples in the model's own layout -> NHWC in the dtype of the Program's input buffer."""
    from toolkit.quant.ptq import input_to_nhwc, quantize_input

    x = np.asarray(x)
    if dtype == "int8":
        if x.dtype == np.int8:
            return input_to_nhwc(graph, x)
        if x.dtype.kind != "f":
            raise DTypeError(f"samples: expected float or int8 data for an int8 model, got {x.dtype}")
        return quantize_input(graph, x)
    if x.dtype.kind != "f":
        raise DTypeError(f"samples: expected float data, got {x.dtype}")
    return input_to_nhwc(graph, x).astype(dtype)


def compile_program(program, board=None, workdir=None, canary: bool = False, prefix: str = "odl_model"):
    """Plan, generate and build ``program`` for the host -> (plan, HostModel)."""
    from toolkit.codegen import build_model, generate
    from toolkit.host.build import cache_root
    from toolkit.plan import plan_memory

    plan = plan_memory(program, board=board, mode="train", guard_bytes=16 if canary else 0)
    if board is not None:
        plan.check()
    out = Path(workdir) if workdir is not None else (cache_root() / "emulate" / program.signature()[:16]
                                                     / ("canary" if canary else "release"))
    c, h = generate(program, plan, out, prefix)
    model = build_model(c, h, prefix=prefix, program=program, canary=canary, name="emu")
    model.reset(program)
    return plan, model


# ---------------------------------------------------------------------------------------------- runs ----

def _logits_float(graph, program, raw: np.ndarray) -> np.ndarray:
    if program.buffers[program.logits].dtype == "int8":
        from toolkit.quant.ptq import dequantize_output

        return dequantize_output(graph, raw, program.meta.get("logits_tensor"))
    return raw.astype(np.float32)


def evaluate(model, program, graph, x: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy and mean cross-entropy (float64, from the model's logits, dequantized for int8) over (x, y)."""
    lb = program.buffers[program.logits]
    correct, losses = 0, []
    for xi, yi in zip(x, y):
        raw = model.infer(xi[None], lb.dtype, lb.shape)
        z = _logits_float(graph, program, raw).reshape(-1).astype(np.float64)
        m = z.max()
        lse = m + np.log(np.exp(z - m).sum())
        losses.append(float(lse - z[int(yi)]))
        correct += int(np.argmax(z) == int(yi))
    n = max(len(y), 1)
    return {"accuracy": correct / n, "loss": float(np.mean(losses)) if losses else float("nan"), "samples": len(y)}


def emulate(model, train, eval=None, epochs: int = 1, spec=None, precision: str = "fp32", calib=None, save=None,
            progress: bool = True, board=None, shuffle: bool = True, seed: int = 0, canary: bool = False,
            workdir=None) -> dict:
    """Train ``model`` on ``train`` = (x, y) for ``epochs`` in the generated C on the host; evaluate on ``eval``
    before and after (and after every epoch). Returns the history dict (see ``odl emulate --json``).

    ``spec``: an UpdateSpec, a shorthand ("last-layer", "full", "biases:K", "last:K") or a TOML path.
    ``save``: write every trained tensor to this .npz, one array per tensor, named as in the model.
    """
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    t0 = time.perf_counter()
    if epochs < 0:
        raise OdlError(f"epochs must be >= 0, got {epochs}")
    tx, ty = train
    graph = load_graph(model, np.asarray(tx).shape[1:])
    graph = prepare_graph(graph, precision, calib, tx)
    if spec is None or isinstance(spec, (str, Path)):
        spec = UpdateSpec.parse(spec or "last-layer")
    program = build_program(graph, spec, precision)
    lb = program.buffers[program.logits]
    ncls = int(np.prod(lb.shape))
    tx, ty = _check_xy(tx, ty, "train", ncls)
    in_dtype = program.buffers[program.input].dtype
    xtr = to_model_input(graph, tx, in_dtype)
    if eval is not None:
        ex, ey = _check_xy(eval[0], eval[1], "eval", ncls)
        xev = to_model_input(graph, ex, in_dtype)
    t_compile = time.perf_counter()
    plan, m = compile_program(program, board=board, workdir=workdir, canary=canary)
    t_built = time.perf_counter()

    hist: dict = {"precision": precision, "spec": spec.to_dict() if hasattr(spec, "to_dict") else str(spec),
                  "epochs": epochs, "train_samples": int(len(ty)),
                  "plan": {"peak_sram_bytes": plan.peak_sram_bytes, "arena_bytes": plan.arena_bytes,
                           "flash_bytes": plan.flash_bytes},
                  "signature": f"{m.signature:08x}", "history": []}
    if eval is not None:
        hist["before"] = evaluate(m, program, graph, xev, ey)
    rng = np.random.default_rng(seed)
    bar = None
    total = epochs * len(ty)
    if progress and total:
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="emulate", unit="step", file=sys.stderr, leave=False)
        except ImportError:
            bar = None
    steps = 0
    for ep in range(epochs):
        order = rng.permutation(len(ty)) if shuffle else np.arange(len(ty))
        losses = []
        for i in order:
            losses.append(m.train_step(xtr[i:i + 1], int(ty[i])))
            steps += 1
            if bar is not None:
                bar.update(1)
                if steps % 50 == 0:
                    bar.set_postfix(epoch=ep + 1, loss=f"{np.mean(losses[-50:]):.4f}")
        rec = {"epoch": ep + 1, "train_loss": float(np.mean(losses)) if losses else float("nan")}
        if eval is not None:
            rec["eval"] = evaluate(m, program, graph, xev, ey)
        hist["history"].append(rec)
    if bar is not None:
        bar.close()
    if eval is not None:
        hist["after"] = hist["history"][-1]["eval"] if hist["history"] else dict(hist["before"])
    hist["steps"] = steps
    hist["seconds"] = {"lower": t_compile - t0, "build": t_built - t_compile,
                       "train_and_eval": time.perf_counter() - t_built}
    trained = {ir: m.read(b.name) for ir, b in sorted(program.trained_tensors().items())}
    if save is not None:
        np.savez(save, **trained)
        hist["saved"] = str(save)
    hist["_model"] = m  # the HostModel and Program, for callers that want to keep going (not JSON)
    hist["_program"] = program
    return hist
