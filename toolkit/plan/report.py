"""Text report of a Plan: the SRAM / Flash breakdown against the budget and the per-step memory timeline."""

from __future__ import annotations


def _kb(n) -> str:
    return "-" if n is None else f"{n / 1024:9.1f} KB"


def format_plan(plan, timeline: bool = True, max_steps: int = 400) -> str:
    lines = [f"memory plan ({plan.mode}) for board {plan.board or '(none: no budget)'}"]
    lines.append(f"  peak SRAM   {_kb(plan.peak_sram_bytes)}   budget {_kb(plan.sram_budget_bytes)}")
    for k, v in plan.sram.items():
        lines.append(f"    {k:<22}{_kb(v)}")
    lines.append(f"  Flash       {_kb(plan.flash_bytes)}   budget {_kb(plan.flash_budget_bytes)}")
    for k, v in plan.flash.items():
        lines.append(f"    {k:<22}{_kb(v)}")
    naive = sum(r.nbytes for r in plan.layout.regions)
    lines.append(f"  arena {plan.arena_bytes} bytes ({len(plan.layout.regions)} regions, naive sum {naive} bytes)")
    if timeline and plan.layout.timeline:
        lines.append("")
        lines.append(f"  {'step':>4} {'phase':<9} {'kernel':<44} {'node':<20} {'live':>10} {'high-water':>11}")
        for t in plan.layout.timeline[:max_steps]:
            lines.append(f"  {t['step']:>4} {t['phase']:<9} {t['kernel']:<44} {str(t['node'])[:20]:<20} "
                         f"{t['live_bytes']:>10} {t['high_water']:>11}")
        if len(plan.layout.timeline) > max_steps:
            lines.append(f"  ... {len(plan.layout.timeline) - max_steps} more steps")
    lines.append("")
    msg = plan.refusal()
    lines.append("fits: yes" if msg is None else f"fits: NO -- {msg}")
    return "\n".join(lines)
