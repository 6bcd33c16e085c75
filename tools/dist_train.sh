#!/usr/bin/env bash
# Multi-process training: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node (tools/torchrun.sh).
exec bash "$(dirname "$0")/torchrun.sh" "$2" "$(dirname "$0")/train.py" "$1" --launcher pytorch \
    "${@:3}"
