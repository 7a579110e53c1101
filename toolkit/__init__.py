"""odl: on-device learning for microcontrollers.

Import package of the `odl` command. Stages (see docs/architecture.md): frontends -> quant -> train -> plan ->
codegen -> host / firmware -> link.
"""

__version__ = "0.1.0"
