#!/usr/bin/env bash
# One tool under torchrun (python -m torch.distributed.run; PYTHON picks the interpreter):
#   tools/torchrun.sh PROCS_PER_NODE SCRIPT [script args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
PROCS=$1
SCRIPT=$2
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$PROCS" \
    --master_port="${PORT:-29500}" \
    "$SCRIPT" "${@:3}"
