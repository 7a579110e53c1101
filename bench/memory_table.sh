#!/bin/sh
# Reproduce the MobileNetV2-w0.35 (128x128) training memory table of docs/memory.md.
# Writes bench/results/mobilenetv2-memory.json and prints the Markdown table. Under a minute.
set -e
cd "$(dirname "$0")/.."
python examples/mobilenetv2/table.py --precision int8 --json bench/results/mobilenetv2-memory.json
