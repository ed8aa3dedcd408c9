#!/usr/bin/env bash
# Multi-node training under SLURM: one `accelerate launch` per node, 8 GPUs each.
#   sbatch --nodes=2 tools/slurm_train.sh configs/tcn.yaml data.root=/data/scenes trainer.epochs=100
#SBATCH --job-name=tempssl
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --output=%x-%j.out
set -euo pipefail

GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MAIN_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
NUM_PROCESSES=$((SLURM_NNODES * GPUS_PER_NODE))

# srun starts one launcher per node; each learns its rank from SLURM_NODEID.
srun bash -c "accelerate launch \
    --multi_gpu \
    --num_machines $SLURM_NNODES \
    --num_processes $NUM_PROCESSES \
    --machine_rank \$SLURM_NODEID \
    --main_process_ip $MAIN_NODE \
    --main_process_port 29500 \
    --mixed_precision bf16 \
    --dynamo_backend no \
    tools/train.py $*"
