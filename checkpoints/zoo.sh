#!/usr/bin/env bash
# Reproduce the shipped reference zoo: `bash checkpoints/zoo.sh [ROOT] [PARALLEL]`.
# One shared recipe for every run (see checkpoints/README.md). On a GPU the small nets are
# launch-bound, so several processes share the card; on a CPU use PARALLEL=1.
set -euo pipefail
ROOT=${1:-checkpoints}
PAR=${2:-1}
DATA=${ZOO_DATA:-../shared/data/cifar10-jpeg.zip}
PY=${PYTHON:-python3}
RECIPE="--data $DATA --epochs 20 --batch-size 128 --lr 0.1 --schedule cosine --warmup-epochs 1 --root $ROOT --no-progress"
jobs=()
for depth in 110 56 20; do
  for seed in 0 1 2; do
    jobs+=("--model resnet$depth --seeds $seed")
    jobs+=("--model resnet$depth --no-residual --seeds $seed")
  done
done
# Seed 001's Nbn / Nboth at small scale: at the shared recipe, and at lr 0.01, the smallest
# documented change for a net without BatchNorm that diverges at lr 0.1 (a later --lr wins).
for extra in "" "--no-residual"; do
  jobs+=("--model resnet20 --no-bn $extra --seeds 0")
  jobs+=("--model resnet20 --no-bn $extra --seeds 0 --lr 0.01")
done
printf '%s\n' "${jobs[@]}" | OMP_NUM_THREADS=1 xargs -P "$PAR" -I{} sh -c "$PY -m explorer train $RECIPE {}"
