#!/usr/bin/env bash
# Sets up .venv if needed, then runs the demo: data -> train/test ReLU and FReLU
# RetinaNet and PSPNet -> comparison tables. Extra arguments go to tools/run_demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python tools/run_demo.py "$@"
