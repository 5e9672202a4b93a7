#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG GPUS_PER_NODE [train.py options]
# Launches tools/train.py through torchrun (gloo on CPU, nccl on GPUs), as mmdetection's
# script does. Multi-node: run it on every node with the same NNODES, MASTER_ADDR and
# PORT and that node's NODE_RANK, e.g. on the second of two nodes:
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.1.1.1 PORT=29500 bash tools/dist_train.sh CONFIG 8
# DRY_RUN=1 prints the command instead of running it. PYTHON picks the interpreter.
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
cd "$(dirname "$0")/.."
CMD=("${PYTHON:-python}" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK"
     --nproc_per_node="$NPROC" --master_addr="$MASTER_ADDR" --master_port="$PORT"
     tools/train.py "$CONFIG" --launcher pytorch "$@")
if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
exec "${CMD[@]}"
