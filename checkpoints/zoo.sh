#!/usr/bin/env bash
# Reproduce the shipped reference zoo: `bash checkpoints/zoo.sh [ROOT] [PARALLEL]`.
# (The shipped runs were trained this way on one H100 with PARALLEL=16 processes sharing it; the
# resnet110 pair finished its last epochs on a CPU: see each run's "devices". The shipped zoo has
# seeds 0-2 at depths 20 and 56 and seed 0 at depth 110: what finished in the GPU time at hand.)
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
# documented change for a net without BatchNorm that fails at lr 0.1 (plain-20 without BatchNorm
# stays at chance there); a later --lr wins.
for extra in "" "--no-residual"; do
  jobs+=("--model resnet20 --no-bn $extra --seeds 0")
  jobs+=("--model resnet20 --no-bn $extra --seeds 0 --lr 0.01")
done
# Seed 000/001's ResNet-18 in the four variants, 15 epochs (seed 000's length); a GPU is advised.
for extra in "" "--no-residual" "--no-bn" "--no-residual --no-bn"; do
  jobs+=("--model resnet18 $extra --seeds 0 --epochs 15")
done
# BatchNorm's role tested (De & Smith 2020; Zhang et al. 2019): residual nets without BatchNorm made
# trainable by SkipInit or Fixup, at the shared recipe (lr 0.1); resnet56 on a 5,000-image subset
# with its BN and no-BN twins on the same subset (trained on a CPU: ZOO_NORM_FREE=1 adds them).
if [ "${ZOO_NORM_FREE:-0}" = 1 ]; then
  jobs+=("--model resnet20 --no-bn --branch-scale skipinit --seeds 0")
  jobs+=("--model resnet20 --no-bn --init fixup --seeds 0")
  for extra in "" "--no-bn" "--no-bn --branch-scale skipinit" "--no-bn --init fixup"; do
    jobs+=("--model resnet56 $extra --subset 5000 --seeds 0")
  done
fi
printf '%s\n' "${jobs[@]}" | OMP_NUM_THREADS=1 xargs -P "$PAR" -I{} sh -c "$PY -m explorer train $RECIPE {}"
