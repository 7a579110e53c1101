"""Training compiler: update spec -> Program (lowering + compile-time autodiff) -> in-process executor.

    from toolkit.train import UpdateSpec, build_program, ProgramRunner
    prog = build_program(graph, UpdateSpec.parse("last:2", lr=0.01), precision="fp32")
    run = ProgramRunner(prog); loss = run.train_step(x_nhwc, label)
"""

from toolkit.train.executor import ProgramRunner
from toolkit.train.lower import build_program
from toolkit.train.program import (Array, Buf, Buffer, Float, Int, Null, Program, Scratch, ScratchSize, Step,
                                   Struct)
from toolkit.train.spec import SpecError, UpdateSpec, WeightUpdate

__all__ = ["ProgramRunner", "build_program", "UpdateSpec", "WeightUpdate", "SpecError", "Program", "Step", "Buffer",
           "Buf", "Int", "Float", "Null", "Array", "Struct", "Scratch", "ScratchSize"]
