#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Launches tools/train.py through torchrun (gloo on CPU, nccl on GPUs as the config says).
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
PORT=${PORT:-29500}
cd "$(dirname "$0")/.."
exec python -m torch.distributed.run --nnodes=1 --nproc_per_node="$NPROC" \
  --master_addr=127.0.0.1 --master_port="$PORT" \
  tools/train.py "$CONFIG" --launcher pytorch "$@"
