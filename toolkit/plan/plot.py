"""Plot of a Plan: live memory per step, stacked by kind, with the SRAM budget line (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

KIND_ORDER = ("activation", "mask", "gradient", "scratch")


def plot_plan(plan, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = plan.layout.timeline
    steps = [t["step"] for t in tl]
    static = plan.peak_sram_bytes - plan.arena_bytes  # SRAM that does not depend on the step
    kinds = list(KIND_ORDER) + sorted({k for t in tl for k in t["live_by_kind"]} - set(KIND_ORDER))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    series = [[static / 1024] * len(tl)]
    labels = ["SRAM outside the arena (trainable, optimizer, io, stack)"]
    for k in kinds:
        series.append([t["live_by_kind"].get(k, 0) / 1024 for t in tl])
        labels.append(f"arena: {k}")
    ax.stackplot(steps, *series, labels=labels, step="mid", alpha=0.85)
    ax.plot(steps, [(static + t["high_water"]) / 1024 for t in tl], color="black", lw=1,
            label="arena high-water + static")
    if plan.sram_budget_bytes is not None:
        ax.axhline(plan.sram_budget_bytes / 1024, color="red", ls="--", label=f"SRAM budget ({plan.board})")
    ax.set_xlabel("step")
    ax.set_ylabel("KB")
    ax.set_title(f"{plan.mode} step: peak SRAM {plan.peak_sram_bytes / 1024:.1f} KB "
                 f"(arena {plan.arena_bytes / 1024:.1f} KB)")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
