#!/bin/sh
# Reproduce docs/host-vs-pytorch.md: training step time and peak memory, generated C (cffi) vs PyTorch eager.
# Writes bench/results/host-train.json and prints the Markdown table. ~5-10 min (nine C builds).
set -e
cd "$(dirname "$0")/.."
python -m toolkit.cli bench train --board host "$@"
