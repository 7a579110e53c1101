"""The search space of sparse updates and its memory cost, taken from the planner.

A ``Scheme`` is (``bias_k``, ``ratios``): the biases of the last ``bias_k`` layers train, and layer ``i``'s weights
train on ``RATIO_CHOICES[ratios[i]]`` of its output channels (0: frozen; channels by weight magnitude, as
``UpdateSpec`` selects them). ``MemoryModel`` lowers a scheme to a Program and asks ``toolkit.plan.plan_memory`` for
its peak SRAM -- the figure ``odl plan`` prints -- memoised per scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction

from toolkit.errors import OdlError

RATIO_CHOICES = (Fraction(0), Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(1))


class SearchError(OdlError):
    """A search that cannot run: bad budget, budget below the frozen model's needs, unusable data."""


@dataclass(frozen=True, order=True)
class Scheme:
    bias_k: int
    ratios: tuple[int, ...]   # index into RATIO_CHOICES per layer, graph order

    def describe(self, layers: list[str]) -> str:
        parts = [f"biases of last {self.bias_k}"] if self.bias_k else []
        parts += [f"{layers[i]} {RATIO_CHOICES[r]}" for i, r in enumerate(self.ratios) if r]
        return ", ".join(parts) or "nothing"

    def to_spec(self, layers: list[str], base=None):
        """The UpdateSpec of this scheme; optimizer and int8 settings from ``base`` (an UpdateSpec)."""
        from toolkit.train.spec import UpdateSpec, WeightUpdate

        base = base or UpdateSpec()
        weights = [WeightUpdate(layers[i], RATIO_CHOICES[r], "magnitude") for i, r in enumerate(self.ratios) if r]
        return replace(base, weights=weights, biases=self.bias_k, bias_layers=[], all_weights=False,
                       all_biases=False, last_weights=0, shorthand=None)

    @property
    def empty(self) -> bool:
        return self.bias_k == 0 and not any(self.ratios)


def last_k(k: int, n_layers: int) -> Scheme:
    """Weights (all channels) and biases of the last k layers (``last:K``)."""
    return Scheme(k, tuple(4 if i >= n_layers - k else 0 for i in range(n_layers)))


def biases_only(k: int, n_layers: int) -> Scheme:
    return Scheme(k, (0,) * n_layers)


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2}


def parse_budget(text) -> int:
    """'64KB' / '64k' / '0.5MB' / '65536' -> bytes (KB = 1024 bytes, as `odl plan` prints)."""
    if isinstance(text, int) and not isinstance(text, bool):
        n = text
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*", str(text))
        if not m or m.group(2).lower() not in _UNITS:
            raise SearchError(f"budget {text!r} is not a size; write e.g. 64KB, 48k, 0.25MB or 65536 (bytes)")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise SearchError(f"budget {text!r} must be positive")
    return n


class MemoryModel:
    """Peak SRAM of a scheme's training step from the planner (memoised); ``infer_bytes``: the frozen model's
    inference peak, the floor of any budget."""

    def __init__(self, graph, layers: list[str], precision: str, board=None, base_spec=None):
        self.graph, self.layers, self.precision, self.board, self.base = graph, layers, precision, board, base_spec
        self.cache: dict[Scheme, int] = {}
        self.calls = 0
        self._infer = None

    def program(self, scheme: Scheme):
        from toolkit.train.lower import build_program

        return build_program(self.graph, scheme.to_spec(self.layers, self.base), self.precision)

    def __call__(self, scheme: Scheme) -> int:
        if scheme not in self.cache:
            from toolkit.plan import plan_memory

            if scheme.empty:
                self.cache[scheme] = self.infer_bytes
            else:
                self.calls += 1
                self.cache[scheme] = int(plan_memory(self.program(scheme), board=self.board,
                                                     mode="train").peak_sram_bytes)
        return self.cache[scheme]

    def probe(self) -> Scheme:
        """A small trainable scheme whose Program gives the frozen model's inference plan and io buffers: the last
        layer's bias, or 1/8 of its weights when it has no bias."""
        s = biases_only(1, len(self.layers))
        if not s.to_spec(self.layers, self.base).resolve(self.graph).trainable():
            s = Scheme(0, (0,) * (len(self.layers) - 1) + (1,))
        return s

    @property
    def infer_bytes(self) -> int:
        if self._infer is None:
            from toolkit.plan import plan_memory

            prog = self.program(self.probe())
            self._infer = int(plan_memory(prog, board=self.board, mode="infer").peak_sram_bytes)
        return self._infer
