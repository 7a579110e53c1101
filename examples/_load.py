"""Load a module of one example (examples/<example>/<name>.py) under a unique module name.

Every example has its own model.py, so a plain ``import model`` would clash; each file is imported once as
``odl_examples_<example>_<name>`` and shared by the examples, the tests and the benchmarks that load it.
Callers put the repository root on sys.path and ``from examples._load import load_example_module``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parent


def load_example_module(example: str, name: str) -> ModuleType:
    """examples/<example>/<name>.py, imported on first use as odl_examples_<example>_<name>."""
    key = f"odl_examples_{example}_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, EXAMPLES / example / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]
