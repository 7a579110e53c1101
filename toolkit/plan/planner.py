"""Memory planner: tensor lifetimes from the step order -> arena offsets, peak SRAM and Flash against a board.

A Program (toolkit.train.program) lists its buffers with a storage class and its steps in execution order. Only
"arena" buffers and per-step scratch areas are placed here: each lives from the first step that names it to the last
one (a scratch area lives during its own step only). Placement is greedy best-fit by decreasing size over the
interval-conflict graph (the order of TFLite Micro's GreedyMemoryPlanner; best fit among the gaps left by
already-placed buffers whose lifetimes overlap, else on top). Every offset is aligned; an optional guard gap after
each region lets the generated C's canary build catch a kernel that writes past its buffer.

The planner reads the Program through its documented attributes only (``buffers``, ``infer``, ``train`` and the
``Buf`` / ``Scratch`` argument kinds, recognised by class name), so it has no import-time dependency on
toolkit.train.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from toolkit.errors import OdlError

ALIGNMENT = 16  # arena offsets; 16 keeps SIMD loads (MVE, host vector extensions) aligned
DEFAULT_STACK_BYTES = 2048  # stack estimate when no board is given (a board's linker stack_size otherwise)
CODE_BASE_BYTES = 4096  # model glue, runtime helpers (estimate)
CODE_PER_KERNEL_BYTES = 1536  # one distinct kernel function (estimate; im2col+matmul kernels share the matmul)
CODE_PER_STEP_BYTES = 48  # one call site with its argument setup (estimate)


class PlanError(OdlError):
    """A plan that does not fit its board, or a Program the planner cannot place."""


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def arg_kind(arg) -> str:
    """The Arg kind of a step argument: its class name (Buf, Int, Float, Null, Struct, Array, Scratch, ...)."""
    return type(arg).__name__


def buffer_role(buf) -> str:
    """What a buffer is, for the breakdown and the timeline colours.

    Uses ``buf.role`` when the Program sets one; otherwise infers it from storage, dtype and name:
    arena -> activation | gradient | mask | scratch; sram -> trainable | optimizer | other; flash -> weights;
    io -> io.
    """
    kind = getattr(buf, "role", None) or getattr(buf, "kind", None)
    if kind:
        kind = str(kind)
        if buf.storage == "flash":
            return "weights"
        if buf.storage == "io":
            return "io"
        if buf.storage == "sram":
            if kind in ("weight", "bias", "trainable"):
                return "trainable"
            if kind in ("momentum", "master", "rng", "lr", "step", "optimizer"):
                return "optimizer"
            return "other"
        return {"saved": "activation", "grad": "gradient", "const": "activation"}.get(kind, kind)
    name = buf.name.lower()
    if buf.storage == "flash":
        return "weights"
    if buf.storage == "io":
        return "io"
    if buf.storage == "sram":
        if any(k in name for k in ("momentum", "mom_", "_mom", "master", "rng", "prng", "velocity", "optim")):
            return "optimizer"
        if getattr(buf, "ir_name", None) or getattr(buf, "tensor_id", None) is not None:
            return "trainable"
        return "other"
    if "mask" in name or buf.dtype == "uint8":
        return "mask"
    if "scratch" in name or "col" in name.split("_"):
        return "scratch"
    if name.startswith(("d_", "grad", "g_")) or "grad" in name or name.endswith("_d"):
        return "gradient"
    return "activation"


@dataclass
class Region:
    """One placed arena region: a buffer, or the scratch of one step argument."""

    name: str  # buffer name, or "scratch:<mode>:<step>:<arg>"
    kind: str  # activation | gradient | mask | scratch
    nbytes: int  # bytes the buffer holds
    first: int  # first step index (inclusive)
    last: int  # last step index (inclusive)
    offset: int = -1
    extent: int = 0  # bytes reserved: nbytes + guard, aligned

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "nbytes": self.nbytes, "offset": self.offset,
                "first_step": self.first, "last_step": self.last}


@dataclass
class Layout:
    """The arena layout of one step list (train or infer)."""

    mode: str
    regions: list[Region]
    offsets: dict[str, int]  # arena buffer name -> offset
    scratch: dict[tuple[int, int], int]  # (step index, arg index) -> offset
    arena_bytes: int
    timeline: list[dict]  # per step: live bytes by kind, high-water mark


@dataclass
class Plan:
    mode: str
    board: str | None
    alignment: int
    guard_bytes: int
    layouts: dict[str, Layout]  # "infer" always, "train" in train mode
    arena_bytes: int  # the arena the generated C allocates: max over layouts
    sram: dict[str, int]  # breakdown of peak SRAM
    flash: dict[str, int]  # breakdown of Flash
    sram_budget_bytes: int | None
    flash_budget_bytes: int | None
    contributors: list[dict] = field(default_factory=list)  # largest single contributors, biggest first

    @property
    def layout(self) -> Layout:
        """The layout of the planned mode."""
        return self.layouts[self.mode]

    @property
    def peak_sram_bytes(self) -> int:
        return sum(self.sram.values())

    @property
    def flash_bytes(self) -> int:
        return sum(self.flash.values())

    @property
    def fits_sram(self) -> bool:
        return self.sram_budget_bytes is None or self.peak_sram_bytes <= self.sram_budget_bytes

    @property
    def fits_flash(self) -> bool:
        return self.flash_budget_bytes is None or self.flash_bytes <= self.flash_budget_bytes

    @property
    def fits(self) -> bool:
        return self.fits_sram and self.fits_flash

    def refusal(self) -> str | None:
        """None if the plan fits; else one message naming what is over and the largest contributors."""
        if self.fits:
            return None
        parts = []
        if not self.fits_sram:
            parts.append(f"peak SRAM {_kb(self.peak_sram_bytes)} > budget {_kb(self.sram_budget_bytes)}")
        if not self.fits_flash:
            parts.append(f"Flash {_kb(self.flash_bytes)} > budget {_kb(self.flash_budget_bytes)}")
        mem = "sram" if not self.fits_sram else "flash"
        top = [c for c in self.contributors if c["memory"] == mem][:5]
        largest = "; ".join(f"{c['what']} {_kb(c['bytes'])}" for c in top)
        return (f"the {self.mode} step does not fit board {self.board}: " + ", ".join(parts)
                + f". Largest contributors: {largest}")

    def check(self) -> "Plan":
        """Raise PlanError with the refusal message if the plan does not fit its board."""
        msg = self.refusal()
        if msg:
            raise PlanError(msg)
        return self

    def to_dict(self) -> dict[str, Any]:
        lay = self.layout
        return {
            "mode": self.mode,
            "board": self.board,
            "peak_sram_bytes": self.peak_sram_bytes,
            "flash_bytes": self.flash_bytes,
            "sram_budget_bytes": self.sram_budget_bytes,
            "flash_budget_bytes": self.flash_budget_bytes,
            "fits": self.fits,
            "arena_bytes": self.arena_bytes,
            "alignment": self.alignment,
            "sram_breakdown": dict(self.sram),
            "flash_breakdown": dict(self.flash),
            "largest_contributors": list(self.contributors[:10]),
            "buffers": [r.to_dict() for r in lay.regions],
            "timeline": list(lay.timeline),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)


def _kb(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1024:.1f} KB"


def _steps(program, mode: str) -> list:
    if mode == "train":
        return list(program.train)
    if mode == "infer":
        return list(program.infer)
    raise PlanError(f"unknown plan mode {mode!r} (expected 'train' or 'infer')")


def collect_regions(program, steps: list, mode: str) -> list[Region]:
    """Arena buffers and scratch areas used by ``steps`` with their lifetimes (first..last step naming them)."""
    buffers = program.buffers
    spans: dict[str, list[int]] = {}
    scratch: list[Region] = []
    for i, st in enumerate(steps):
        for j, a in enumerate(st.args):
            k = arg_kind(a)
            if k == "Buf":
                if a.name not in buffers:
                    raise PlanError(f"step {i} ({st.kernel}, node {st.node}) names unknown buffer {a.name!r}")
                if buffers[a.name].storage != "arena":
                    continue
                s = spans.setdefault(a.name, [i, i])
                s[1] = i
            elif k == "Scratch":
                n = int(a.nbytes)
                if n < 0:
                    raise PlanError(f"step {i} ({st.kernel}): negative scratch size {n}")
                if n > 0:
                    scratch.append(Region(f"scratch:{mode}:{i}:{j}", "scratch", n, i, i))
    regions = [Region(name, buffer_role(buffers[name]), int(buffers[name].nbytes), s[0], s[1])
               for name, s in spans.items()]
    return regions + scratch


# Orders the greedy placement tries (the smallest arena wins; ties: the first order). "size" is TFLite Micro's.
PACK_ORDERS = {
    "size": lambda r: (-r.extent, r.first, r.last, r.name),
    "size_x_lifetime": lambda r: (-r.extent * (r.last - r.first + 1), -r.extent, r.first, r.name),
    "lifetime": lambda r: (-(r.last - r.first), -r.extent, r.first, r.name),
}


def _place(regions: list[Region], key) -> dict[str, int]:
    placed: list[Region] = []
    offsets: dict[str, int] = {}
    for r in sorted(regions, key=key):
        conflicts = sorted((p for p in placed if p.first <= r.last and r.first <= p.last),
                           key=lambda p: (offsets[p.name], p.extent))
        best_off, best_gap = None, None
        cursor = 0
        for p in conflicts:
            gap = offsets[p.name] - cursor
            if gap >= r.extent and (best_gap is None or gap < best_gap):
                best_off, best_gap = cursor, gap
            cursor = max(cursor, offsets[p.name] + p.extent)
        offsets[r.name] = best_off if best_off is not None else cursor
        placed.append(r)
    return offsets


def pack(regions: list[Region], alignment: int = ALIGNMENT, guard_bytes: int = 0) -> int:
    """Greedy best-fit packing in place (sets offset/extent); returns the arena size.

    Regions are placed one by one in a given order; each goes into the smallest gap between already-placed regions
    whose lifetimes overlap its own that holds it (lowest offset on ties), else on top of them. Three orders are
    tried (largest first as TFLite Micro's GreedyMemoryPlanner; largest size x lifetime first; longest-lived
    first) and the smallest arena kept. Deterministic for a given input. Region names must be unique.
    """
    for r in regions:
        r.extent = _align(max(r.nbytes, 1) + guard_bytes, alignment)
    best, best_size = None, None
    for key in PACK_ORDERS.values():
        offsets = _place(regions, key)
        size = max((offsets[r.name] + r.extent for r in regions), default=0)
        if best_size is None or size < best_size:
            best, best_size = offsets, size
    for r in regions:
        r.offset = best[r.name]
    return best_size or 0


def _timeline(steps: list, regions: list[Region], guard_bytes: int) -> list[dict]:
    out = []
    for i, st in enumerate(steps):
        live = [r for r in regions if r.first <= i <= r.last]
        by_kind: dict[str, int] = {}
        for r in live:
            by_kind[r.kind] = by_kind.get(r.kind, 0) + r.nbytes
        out.append({
            "step": i,
            "kernel": st.kernel,
            "node": st.node,
            "phase": st.phase,
            "live_bytes": sum(r.nbytes for r in live),
            "live_by_kind": dict(sorted(by_kind.items())),
            "high_water": max((r.offset + r.extent - guard_bytes for r in live), default=0),
        })
    return out


def plan_layout(program, mode: str, alignment: int = ALIGNMENT, guard_bytes: int = 0) -> Layout:
    steps = _steps(program, mode)
    regions = collect_regions(program, steps, mode)
    arena = pack(regions, alignment, guard_bytes)
    offsets = {r.name: r.offset for r in regions if not r.name.startswith("scratch:")}
    scratch = {}
    for r in regions:
        if r.name.startswith("scratch:"):
            _, _, i, j = r.name.split(":")
            scratch[(int(i), int(j))] = r.offset
    regions.sort(key=lambda r: (r.offset, r.first, r.name))
    return Layout(mode, regions, offsets, scratch, arena, _timeline(steps, regions, guard_bytes))


def _kernels(program, modes: list[str]) -> set[str]:
    return {st.kernel for m in modes for st in _steps(program, m)}


def plan_memory(program, board=None, mode: str = "train", alignment: int = ALIGNMENT,
                guard_bytes: int = 0) -> "Plan":
    """Plan the arena of ``program`` for ``mode`` ("train" or "infer") and account SRAM/Flash against ``board``.

    ``board`` is a board name or a toolkit.firmware.boards.Board (None: no budget). ``guard_bytes`` reserves a
    gap after every arena region for the canary build of the generated C (0 for release). Never raises for an
    over-budget plan: check ``plan.fits`` / ``plan.refusal()`` or call ``plan.check()``.
    """
    if mode not in ("train", "infer"):
        raise PlanError(f"unknown plan mode {mode!r} (expected 'train' or 'infer')")
    if alignment < 1 or alignment & (alignment - 1):
        raise PlanError(f"alignment must be a power of two, got {alignment}")
    if board is not None and isinstance(board, str):
        from toolkit.firmware.boards import load_board

        board = load_board(board)
    modes = ["infer", "train"] if mode == "train" else ["infer"]
    layouts = {m: plan_layout(program, m, alignment, guard_bytes) for m in modes}
    arena = max(l.arena_bytes for l in layouts.values())

    bufs = list(program.buffers.values())
    sram: dict[str, int] = {"arena": arena}
    for role in ("trainable", "optimizer", "other"):
        sram[f"sram_{role}"] = sum(b.nbytes for b in bufs if b.storage == "sram" and buffer_role(b) == role)
    sram["io"] = sum(b.nbytes for b in bufs if b.storage == "io")
    stack = board.memory.stack_size if board is not None else DEFAULT_STACK_BYTES
    sram["stack_estimate"] = int(stack)

    kernels = _kernels(program, modes)
    nsteps = sum(len(_steps(program, m)) for m in modes)
    flash = {
        "weights": sum(b.nbytes for b in bufs if b.storage == "flash"),
        "sram_initial_values": sum(b.nbytes for b in bufs if b.storage == "sram" and b.init is not None),
        "code_estimate": CODE_BASE_BYTES + CODE_PER_KERNEL_BYTES * len(kernels) + CODE_PER_STEP_BYTES * nsteps,
    }

    # Largest single contributors: arena regions at the planned mode's peak step, SRAM/Flash buffers.
    lay = layouts[mode]
    contributors: list[dict] = []
    if lay.timeline:
        peak_step = max(lay.timeline, key=lambda t: (t["live_bytes"], -t["step"]))["step"]
        steps = _steps(program, mode)
        for r in lay.regions:
            if r.first <= peak_step <= r.last:
                what = (f"scratch of step {r.first} ({steps[r.first].kernel})" if r.kind == "scratch"
                        else f"arena {r.kind} {r.name}")
                contributors.append({"memory": "sram", "what": what + f" (live at step {peak_step})",
                                     "bytes": r.nbytes})
    for b in bufs:
        if b.storage in ("sram", "io"):
            contributors.append({"memory": "sram", "what": f"{buffer_role(b)} {b.name}", "bytes": int(b.nbytes)})
        elif b.storage == "flash":
            contributors.append({"memory": "flash", "what": f"weights {b.name}", "bytes": int(b.nbytes)})
    contributors.append({"memory": "sram", "what": "stack estimate", "bytes": int(stack)})
    contributors.append({"memory": "flash", "what": "code estimate", "bytes": flash["code_estimate"]})
    contributors.sort(key=lambda c: (-c["bytes"], c["memory"], c["what"]))

    return Plan(
        mode=mode,
        board=board.name if board is not None else None,
        alignment=alignment,
        guard_bytes=guard_bytes,
        layouts=layouts,
        arena_bytes=arena,
        sram=sram,
        flash=flash,
        sram_budget_bytes=board.memory.sram_size if board is not None else None,
        flash_budget_bytes=board.memory.flash_size if board is not None else None,
        contributors=contributors,
    )
