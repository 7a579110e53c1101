"""C code generation: a Program (toolkit.train) laid out by a Plan (toolkit.plan) -> model.c / model.h.

``generate(program, plan, out_dir, prefix="odl_model") -> (model.c, model.h)``; ``build_model(...)`` compiles the
result with the csrc kernels for the host through cffi and returns a :class:`HostModel`.
"""

from toolkit.codegen.emit_c import CodegenError, generate
from toolkit.codegen.host import HostModel, build_model, build_models

__all__ = ["CodegenError", "generate", "HostModel", "build_model", "build_models"]
