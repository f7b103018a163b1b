"""Speed of the block-level mechanism studies on a deep net, against one plain forward pass.

    python bench/mechanisms_speed.py [--run RUN_DIR] [--model resnet110] [--repeats 3]

On 500 probe-sized images (the digits probe set, 8x8 upsampled to 3x32x32; or the run's own
data set with --run): the lesion study (every single block, and k = 1..10 blocks deleted at
random, 3 draws each), the per-block profiles (LDA accuracy, usable
information, Fisher ratio, CKA), and signal propagation at the trained and at the initial
weights. Prints each part's time, the total, the time of one plain forward pass over the
same images, and total / forward; medians of ``--repeats`` runs. Random weights (seed 0)
unless --run gives a run folder. Target: the total within 60 s on the 2-core machine.

It also prints the arithmetic floor of that work on this machine: the floating-point operations
of the convolutions and matrix products each part runs (counted by torch's FlopCounterMode on a
slice of the images and scaled, as these costs are linear in the number of images; the metrics'
eigendecompositions are not counted, so this is a lower bound), divided by the best rate this
machine's BLAS reaches on a large square matrix product (the best of 5 at n = 2048 and 4096), a
rate the convolutions here do not reach (the forward pass's own rate is printed beside it). No
implementation of the same exact work can take less time.
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

from explorer import studies as mech  # noqa: E402
from explorer import separability as sep  # noqa: E402
from explorer.data import load_dataset, normalize, probe_set  # noqa: E402
from explorer.models import init_model  # noqa: E402
from explorer.runs import open_run  # noqa: E402


def _model_and_probe(a):
    if a.run:
        path = Path(a.run).resolve()
        run = open_run(path.parent, path.name)
        model, seed = run.load_model(), run.train_config.seed
        data = load_dataset(run.config["data"].get("source", run.config["data"]["name"]))
    else:
        model, seed = init_model(a.model, 0), 0
        data = load_dataset("digits")
    probe = probe_set(data)
    mean, std = data.mean_std()
    return model.eval(), seed, normalize(probe.images, mean, std), probe.labels


def _gemm_rate(sizes=(2048, 4096), repeats: int = 5) -> float:
    """The best FLOP/s of float32 n x n matrix products on this machine (the best of ``repeats`` per size):
    the rate the floor is measured against, so that the floor is a lower bound."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b  # warm-up
        best = max(best, max(2 * n ** 3 / _timed(lambda: a @ b) for _ in range(repeats)))
    return best


def _flops(parts: dict, x, y, slice_size: int = 20) -> dict[str, float]:
    """Counted FLOPs of each part on all of ``x``, from a run on its first ``slice_size`` images."""
    from torch.utils.flop_counter import FlopCounterMode
    out = {}
    for name, fn in parts.items():
        with FlopCounterMode(display=False) as counter:
            fn(x[:slice_size], y[:slice_size])  # the metrics' matrix products grow faster than n: undercounted
        out[name] = counter.get_total_flops() * len(x) / slice_size
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="a run folder; default: random weights")
    ap.add_argument("--model", default="resnet110", help="model name without --run")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    model, seed, x, y = _model_and_probe(a)
    print(f"{model.spec.name}: {len(model.blocks())} blocks, {len(x)} images {tuple(x.shape[1:])}, "
          f"torch threads {torch.get_num_threads()}")

    def forward_of(xs):
        with torch.no_grad():
            for i in range(0, len(xs), 128):  # the studies' default batch, channels-last as they run
                model(xs[i:i + 128].contiguous(memory_format=torch.channels_last))

    def forward():
        forward_of(x)

    studies = {
        "lesions (singles + k=1..10)": lambda xs, ys: mech.lesion_study(model, xs, ys),
        "profiles": lambda xs, ys: mech.block_profiles(model, xs, ys),
        "signal, trained weights": lambda xs, ys: mech.signal_profile(model, xs, ys),
        "signal, initial weights": lambda xs, ys: mech.signal_at_init(model.spec, seed, xs, ys),
    }
    parts = {name: (lambda fn=fn: fn(x, y)) for name, fn in studies.items()}
    # Counted on a slice of the images: the profiles' extraction only (their metrics need every class in
    # every fold; their matrix products and eigendecompositions are left out of the floor).
    counted = dict(studies, profiles=lambda xs, ys: mech.block_features(model, xs))
    # The machine is shared and its load drifts: each part is set against a forward pass timed
    # just before it, and the ratios are the medians of the per-repeat ratios.
    times: dict[str, list[float]] = {k: [] for k in parts}
    ratios: dict[str, list[float]] = {k: [] for k in parts}
    forwards, totals, total_ratios = [], [], []
    for _ in range(a.repeats):
        getattr(sep, "_FOLD_CACHE", {}).clear()  # each repeat starts cold
        fwd = []
        for name, fn in parts.items():
            fwd.append(_timed(forward))
            times[name].append(_timed(fn))
            ratios[name].append(times[name][-1] / fwd[-1])
        forwards.append(statistics.mean(fwd))
        totals.append(sum(times[name][-1] for name in parts))
        total_ratios.append(sum(ratios[name][-1] for name in parts))
    for name in parts:
        print(f"  {name:<28} {statistics.median(times[name]):7.2f} s  "
              f"({statistics.median(ratios[name]):5.1f} forwards)")
    flops, rate = _flops(counted, x, y), _gemm_rate()
    fwd_flops = _flops({"forward": lambda xs, ys: forward_of(xs)}, x, y)["forward"]
    floor = sum(flops.values()) / rate
    print("  counted work: " + ", ".join(f"{name.split(' (')[0]} {f / 1e12:.2f}" for name, f in flops.items())
          + f" TFLOP ({sum(flops.values()) / fwd_flops:.1f} forward passes of {fwd_flops / 1e9:.0f} GFLOP)")
    print(f"  this machine's best matrix-product rate: {rate / 1e9:.0f} GFLOP/s (a forward pass: "
          f"{fwd_flops / statistics.median(forwards) / 1e9:.0f} GFLOP/s); arithmetic floor of the work: "
          f"{floor:.0f} s (the best any exact implementation could do here)")
    print(f"one plain forward pass: {statistics.median(forwards):.2f} s; all of it: {statistics.median(totals):.2f} s; "
          f"total / forward = {statistics.median(total_ratios):.1f} (target total <= 60 s; medians of {a.repeats})")

if __name__ == "__main__":
    main()
