#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
PORT=${PORT:-29500}
cd "$(dirname "$0")/.."
exec python -m torch.distributed.run --nnodes=1 --nproc_per_node="$NPROC" \
  --master_addr=127.0.0.1 --master_port="$PORT" \
  tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
