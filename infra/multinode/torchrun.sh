#!/bin/bash
# One training on several machines without SLURM: run this same command on every node.
# params.yaml: <dataset>.train.<cell>.devices = GPUS_PER_NODE, num_nodes = NODES.
#
#   MASTER=10.0.0.1 NODES=2 GPUS_PER_NODE=4 infra/multinode/torchrun.sh cosine lstm
#
# torchrun's c10d rendezvous on MASTER:29500 numbers the nodes; global rank 0 opens (or, after a
# kill, reopens) the MLflow run and is the only rank that logs. The repository must be on a shared
# file system (data, checkpoints and the model folder), MLFLOW_TRACKING_URI a server all nodes reach.
# On one machine the train stage starts torchrun itself (`dvc repro` / `rnnops run`): no script needed.
set -euo pipefail
DATASET=${1:?usage: torchrun.sh <dataset> <cell>}
CELL=${2:?usage: torchrun.sh <dataset> <cell>}
: "${MASTER:?set MASTER to the address of one of the nodes}"
: "${MLFLOW_TRACKING_URI:?set MLFLOW_TRACKING_URI to an MLflow server every node reaches}"
NODES=${NODES:-2}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L | wc -l)}
export OMP_NUM_THREADS=$(( $(nproc) / GPUS_PER_NODE ))
exec python -m torch.distributed.run --nnodes="$NODES" --nproc_per_node="$GPUS_PER_NODE" \
  --rdzv_backend=c10d --rdzv_endpoint="$MASTER:29500" --rdzv_id="rnnops-$DATASET-$CELL" \
  -m flows.stages.train "$DATASET" "$CELL"
