"""``odl build``: quantize (int8), lower, plan, generate C and build the firmware of a board with the model inside.

``build_for_device(model, board, out_dir, spec=..., precision=..., calib=...) -> DeviceBuild`` writes
``out_dir/model/{model.c,model.h}``, ``out_dir/graph.json`` (the graph that was compiled, after PTQ for int8),
``out_dir/build.json`` (board, model signature, tensor table, precision, spec, memory plan, image size) and the
firmware under ``out_dir/fw``. A model whose plan does not fit the board, or whose image does not link, is refused
with the planner's (or the linker's) reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError

BUILD_JSON = "build.json"


class DeviceBuildError(OdlError):
    """The model cannot be built for the board (does not fit, or the build directory is unusable)."""


@dataclass
class DeviceBuild:
    dir: Path
    info: dict            # the contents of build.json
    graph: object         # toolkit.ir.Graph compiled into the firmware
    program: object       # toolkit.train.Program (re-lowered from graph.json + spec)
    plan: object | None = None

    @property
    def board(self) -> str:
        return self.info["board"]

    @property
    def elf(self) -> Path:
        return self.dir / self.info["elf"]

    @property
    def signature(self) -> int:
        return int(self.info["signature"], 16)


def _spec(spec):
    from toolkit.train.spec import UpdateSpec

    if spec is None or isinstance(spec, (str, Path)):
        return UpdateSpec.parse(spec or "last-layer")
    return spec


def tensor_table(program) -> list[dict]:
    """Every buffer with a protocol id: id, IR name, buffer name, shape, dtype, storage, kind."""
    rows = []
    for name, b in program.buffers.items():
        if b.tensor_id is None:
            continue
        rows.append({"id": int(b.tensor_id), "name": b.ir_name or name, "buffer": name, "shape": list(b.shape),
                     "dtype": b.dtype, "storage": b.storage, "kind": b.kind, "nbytes": int(b.nbytes)})
    return sorted(rows, key=lambda r: r["id"])


def firmware_defines(program, model_dir: Path, board=None) -> list[str]:
    """Extra firmware defines for a model build: the model folder, the logits buffer, room for the model's
    tensors in the device table, a staging buffer as large as the largest writable tensor (tensor writes are
    all or nothing: staged, then copied); the link-test tensors of firmware/main.c shrink to 16 bytes and the
    kernel-test service's arena to 1 KB."""
    ids = [b for b in program.buffers.values() if b.tensor_id is not None]
    writable = [b.nbytes for b in ids if b.storage != "flash"]
    staging = max([16] + writable)
    staging = (staging + 15) // 16 * 16
    return [f"ODL_MODEL_DIR={Path(model_dir).resolve().as_posix()}",
            f'ODL_MODEL_LOGITS_NAME="{program.logits}"',
            f"ODL_DEVICE_MAX_TENSORS={max(16, len(ids) + 6)}",
            "ODL_FW_TENSOR1_BYTES=16", "ODL_FW_TENSOR2_BYTES=16", "ODL_FW_TENSOR3_BYTES=16",
            "ODL_FW_TENSOR4_BYTES=0", f"ODL_FW_STAGING_BYTES={staging}"] + _small_kernel_service(board)


def _small_kernel_service(board) -> list[str]:
    """The on-target kernel-test service (firmware/kernel_service.c) keeps only a 1 KB arena in a model firmware
    (its default 128 KB would take the model's SRAM), unless the board asks for less."""
    for d in (board.defines if board is not None else ()):
        if d.startswith("ODL_KS_ARENA_BYTES="):
            return []
    return ["ODL_KS_ARENA_BYTES=1024"]


def build_for_device(model, board: str, out_dir, spec=None, precision: str = "fp32", calib=None,
                     simd: bool = True, progress=None) -> DeviceBuild:
    """Compile ``model`` (a .pt2/.json/.tflite path, Graph or nn.Module with ``calib``) for ``board`` into
    ``out_dir``; see the module docstring."""
    from toolkit.codegen import generate
    from toolkit.emulate import load_graph, prepare_graph
    from toolkit.firmware import FirmwareTooLarge, build_firmware, load_board
    from toolkit.plan import plan_memory
    from toolkit.train.lower import build_program

    say = progress or (lambda s: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bd = load_board(board)
    cal = None if calib is None else np.asarray(calib)
    graph = load_graph(model, None if cal is None else cal.shape[1:])
    say(f"model {graph.name}: precision {precision}")
    graph = prepare_graph(graph, precision, cal)
    spec = _spec(spec)
    program = build_program(graph, spec, precision)
    plan = plan_memory(program, board=bd, mode="train")
    if not plan.fits:
        raise DeviceBuildError(f"refused: {plan.refusal()}")
    model_dir = out / "model"
    generate(program, plan, model_dir)
    graph.to_json(out / "graph.json")
    say(f"generated C in {model_dir} ({len(program.train)} train steps, arena {plan.arena_bytes} bytes)")
    defines = firmware_defines(program, model_dir, bd)
    try:
        fw = build_firmware(bd, out / "fw", defines=defines, simd=simd, progress=None)
    except FirmwareTooLarge as e:
        raise DeviceBuildError(f"refused: {e}") from e
    sig = program.signature()
    info = {
        "board": bd.name,
        "source": str(Path(model).resolve()) if isinstance(model, (str, Path)) else None,
        "signature": sig[:8],
        "program_signature": sig,
        "precision": precision,
        "spec": spec.to_dict(),
        "simd": bool(simd),
        "elf": str(fw.elf.resolve().relative_to(out.resolve())),
        "graph": "graph.json",
        "input": program.input, "logits": program.logits,
        "input_shape": list(program.buffers[program.input].shape),
        "input_dtype": program.buffers[program.input].dtype,
        "logits_shape": list(program.buffers[program.logits].shape),
        "logits_dtype": program.buffers[program.logits].dtype,
        "tensors": tensor_table(program),
        "trained": {ir: b.name for ir, b in sorted(program.trained_tensors().items())},
        "plan": {"peak_sram_bytes": plan.peak_sram_bytes, "arena_bytes": plan.arena_bytes,
                 "flash_bytes": plan.flash_bytes, "sram_budget_bytes": plan.sram_budget_bytes,
                 "flash_budget_bytes": plan.flash_budget_bytes, "sram_breakdown": dict(plan.sram),
                 "flash_breakdown": dict(plan.flash)},
        "firmware": fw.size.as_dict(),
    }
    (out / BUILD_JSON).write_text(json.dumps(info, indent=1, sort_keys=True))
    # a new build invalidates any training progress of an earlier one
    for stale in ("progress.json", "checkpoint.npz"):
        (out / stale).unlink(missing_ok=True)
    return DeviceBuild(out, info, graph, program, plan)


def load_build(build_dir) -> DeviceBuild:
    """A DeviceBuild from a build directory; the Program is lowered again and must have the recorded signature."""
    from toolkit.ir import Graph
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    d = Path(build_dir)
    p = d / BUILD_JSON
    if not p.exists():
        raise DeviceBuildError(f"{d} is not a build directory (no {BUILD_JSON}); make one with `odl build`")
    info = json.loads(p.read_text())
    graph = Graph.from_json(d / info["graph"])
    spec = UpdateSpec.from_dict(info["spec"])
    program = build_program(graph, spec, info["precision"])
    if program.signature() != info["program_signature"]:
        raise DeviceBuildError(f"{d}: the model lowers to signature {program.signature()[:8]} with this toolkit, "
                               f"the build recorded {info['signature']}; rebuild with `odl build`")
    return DeviceBuild(d, info, graph, program)
