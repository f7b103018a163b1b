"""Cost of a loss-landscape slice: a 21 x 21 resnet56 slice on 1,000 images on this machine.

    python bench/landscape_speed.py [--full] [--repeats 3]

The zoo's resnet56 (seed 0) when its weights and CIFAR-10 are here (1,000 training images,
stratified), else a resnet56 with random weights on 1,000 digits images (8x8 upsampled to
32x32: the same cost per image). Measures one forward pass over the images (median of
``--repeats``) and the slice: by default one row of the grid (21 points, each point one pass
with the weights moved), from which the whole 21 x 21 grid is projected (printed as such);
``--full`` computes all 441 points.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.studies.landscape import batch_evaluator, slice_points  # noqa: E402


def _setup():
    from explorer.data import load_dataset, normalize
    from explorer.runs import list_runs
    from explorer.settings import SHARED_CIFAR_ZIP
    from explorer.train.loop import stratified_subset
    zoo = [r for r in list_runs(ROOT / "checkpoints").runs
           if r.spec.name == "resnet56" and r.seed == 0 and r.train_config.subset is None]  # the full-data run
    if zoo and SHARED_CIFAR_ZIP.exists():
        run, data = zoo[0], load_dataset(str(SHARED_CIFAR_ZIP))
        idx = stratified_subset(data.train_y, 1000)
        mean, std = torch.tensor(run.record.data.mean), torch.tensor(run.record.data.std)
        return run.load_model(), normalize(data.train_x[idx], mean, std), data.train_y[idx], f"zoo {run.id}, CIFAR-10"
    from explorer.models import init_model
    data = load_dataset("digits")
    idx = stratified_subset(data.train_y, 1000)
    mean, std = data.mean_std()
    return init_model("resnet56", 0), normalize(data.train_x[idx], mean, std), data.train_y[idx], "random resnet56, digits"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="all 21 x 21 points (minutes on a CPU)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    model, x, y, what = _setup()
    ev = batch_evaluator(x, y)
    fwd = statistics.median(_time(lambda: ev(model)) for _ in range(a.repeats))
    points = 21 if a.full else 1
    t = _time(lambda: slice_points(model, ev, "2d" if a.full else "1d", points=21, seed=0))
    n = 21 * points
    per = t / n
    print(f"{what}: {len(x)} images, torch threads {torch.get_num_threads()}")
    print(f"one forward pass: {fwd:.2f} s (median of {a.repeats}); slice: {n} points in {t:.1f} s = {per:.2f} s a point "
          f"({per / fwd:.2f} forward passes)")
    print(f"21 x 21 slice: {'measured' if a.full else 'projected from 21 points'} {per * 441:.0f} s "
          f"({per * 441 / 60:.1f} min)")


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
