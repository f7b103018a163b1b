"""Cost of the initialisation sweep, as a ratio to one forward pass of the probe set through the same net.

    python bench/init_sweep_cost.py [--depths 8 20 56] [--seeds 2] [--repeats 3] [--threads 1]

For each timed depth and each of the four variants: one forward pass of the 500 probe images (a
fresh net, train-mode BatchNorm, no gradient; the median of ``--repeats``), one forward + backward
pass of them (the mean cross-entropy's gradient with respect to the input; median), and
:func:`explorer.studies.init_measures.init_measures` for ``--seeds`` seeds (median). Prints each
as seconds and as a ratio to the forward pass, with the floor: the passes the measures need,
``1 fwd+bwd over N`` (gradients, branch variances, stable rank) ``+ 1 fwd over N`` (freezing the
batch statistics) ``+ lines x points / N fwd+bwd`` (shattering), at the measured pass times.
The whole grid (``--grid-depths`` x 4 variants x ``--grid-seeds``) is extrapolated from a line
fitted through the timed depths per variant (the cost of a net is about linear in its depth).
Random probe-sized images when the shipped probe set is missing. Times are medians on a shared
machine: read the ratios, not the seconds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.data import DataError, load_shipped_probe  # noqa: E402
from explorer.models import init_model  # noqa: E402
from explorer.studies.init_measures import DEPTHS, LINES, POINTS, VARIANTS, init_measures, sweep_spec  # noqa: E402

NAMES = {(False, True): "plain", (True, True): "residual", (False, False): "plain no-BN", (True, False): "residual no-BN"}


def probe_images() -> tuple[torch.Tensor, torch.Tensor, str]:
    """The shipped probe set, standardised per channel (its own statistics: timing does not need the zoo's)."""
    try:
        p = load_shipped_probe()
        x = p.images.float() / 255
        mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
        return (x - mean) / std, p.labels, "the shipped probe set"
    except DataError:
        g = torch.Generator().manual_seed(0)
        return torch.randn(500, 3, 32, 32, generator=g), torch.arange(500) % 10, "random images"


def median_time(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def net_costs(depth: int, residual: bool, batchnorm: bool, x, y, seeds: int, repeats: int) -> dict[str, float]:
    spec = sweep_spec(depth, residual, batchnorm)
    net = init_model(spec, 0).to(memory_format=torch.channels_last).train()
    xc = x.contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.no_grad():
            net(xc)

    def forward_backward():
        inp = xc.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(net(inp), y), inp)

    fwd, fb = median_time(forward, repeats), median_time(forward_backward, repeats)
    measure = statistics.median([median_time(lambda s=s: init_measures(spec, s, x, y), 1) for s in range(seeds)])
    floor = fb * (1 + LINES * POINTS / len(x)) + fwd
    return {"forward": fwd, "fwd+bwd": fb, "measures": measure, "floor": floor}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 20, 56])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid-depths", type=int, nargs="+", default=list(DEPTHS))
    ap.add_argument("--grid-seeds", type=int, default=20)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    x, y, what = probe_images()
    print(f"{len(x)} images ({what}); {a.threads} torch thread(s); shattering {LINES} lines x {POINTS} points; "
          f"medians of {a.repeats} passes, {a.seeds} seeds")
    print(f"{'net':<28}{'forward s':>10}{'fwd+bwd':>9}{'measures':>10}{'/ fwd':>7}{'floor / fwd':>12}")
    fits = {}
    for r, b in VARIANTS:
        per_depth = []
        for d in a.depths:
            c = net_costs(d, r, b, x, y, a.seeds, a.repeats)
            per_depth.append(c["measures"])
            print(f"{f'resnet{d} {NAMES[r, b]}':<28}{c['forward']:>10.2f}{c['fwd+bwd'] / c['forward']:>8.1f}x"
                  f"{c['measures']:>10.2f}{c['measures'] / c['forward']:>7.1f}{c['floor'] / c['forward']:>12.1f}",
                  flush=True)
        fits[r, b] = np.polyfit(a.depths, per_depth, 1) if len(a.depths) > 1 else np.array([per_depth[0] / a.depths[0], 0])
    total = sum(float(np.polyval(fits[v], d)) for v in VARIANTS for d in a.grid_depths) * a.grid_seeds
    for v in VARIANTS:
        per_seed = sum(float(np.polyval(fits[v], d)) for d in a.grid_depths)
        print(f"{NAMES[v]:<16} depths {a.grid_depths}: {per_seed:.0f} s a seed (extrapolated)")
    print(f"whole grid, {len(a.grid_depths)} depths x {len(VARIANTS)} variants x {a.grid_seeds} seeds: "
          f"{total:.0f} s = {total / 3600:.2f} h (extrapolated, this machine's load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
