#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS_PER_NODE [test.py options]
# torchrun over NNODES nodes (NODE_RANK, MASTER_ADDR, PORT as in tools/dist_train.sh).
# DRY_RUN=1 prints the command instead of running it. PYTHON picks the interpreter.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
cd "$(dirname "$0")/.."
CMD=("${PYTHON:-python}" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK"
     --nproc_per_node="$NPROC" --master_addr="$MASTER_ADDR" --master_port="$PORT"
     tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@")
if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
exec "${CMD[@]}"
