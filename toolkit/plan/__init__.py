"""Memory planning: arena offsets from tensor lifetimes, peak SRAM / Flash against a board, report and plot.

``plan_memory(program, board=None, mode="train")`` -> :class:`Plan`; ``format_plan(plan)`` is the text report of
``odl plan``; ``plot_plan(plan, path)`` draws the per-step memory timeline.
"""

from toolkit.plan.planner import ALIGNMENT, Layout, Plan, PlanError, Region, buffer_role, pack, plan_memory
from toolkit.plan.report import format_plan
from toolkit.plan.plot import plot_plan

__all__ = ["ALIGNMENT", "Layout", "Plan", "PlanError", "Region", "buffer_role", "pack", "plan_memory",
           "format_plan", "plot_plan"]
