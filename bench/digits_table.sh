#!/bin/sh
# Reproduce the digits table of docs/examples.md (accuracy before/after fine-tuning under a data shift).
# Writes bench/results/digits.json and prints the Markdown table. ~5-10 min on one core (four C builds).
set -e
cd "$(dirname "$0")/.."
python examples/digits/run.py --epochs "${EPOCHS:-5}" --work "${WORK:-/tmp/odl-digits}" --json bench/results/digits.json
