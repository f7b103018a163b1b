"""Cost of one Hessian of a trained resnet56 (both extreme eigenvalues + trace), as a ratio to one forward pass.

    python bench/hessian_cost.py [--run checkpoints/resnet56-s0-...] [--images 256] [--iterations 40]
                                 [--samples 10] [--repeats 3] [--threads 1]

The defaults are the curvature study's (explorer/studies/catalog/curvature.py): 256 images, 30
Lanczos products (all taken), 10 Hutchinson samples.

On the shipped probe set (the run's own normalisation; random images if it is missing), BatchNorm
in eval mode: one forward pass (median of ``--repeats``), the gradient with its graph kept
(once), one forward + backward pass and one Hessian-vector product (medians of ``--repeats``),
then both extreme eigenvalues by the Lanczos method (``--iterations`` products, all taken)
and Hutchinson's trace (``--samples`` products), each timed. Prints seconds and ratios to the
forward pass, the floor ``(1 + 2 x products) x forward + backward`` (a Hessian-vector product
costs about two gradients' arithmetic, Pearlmutter 1994; the gradient is needed once) and the peak
resident memory of the process. Medians on a shared machine: read the ratios, not the seconds.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.data import DataError, load_shipped_probe, normalize  # noqa: E402
from explorer.runs import open_run  # noqa: E402
from explorer.studies.catalog.curvature import CurvatureSettings  # noqa: E402
from explorer.studies.curvature import hessian_product, hutchinson_trace, lanczos_extremes  # noqa: E402

D = CurvatureSettings()


def default_run() -> Path:
    runs = sorted((ROOT / "checkpoints").glob("resnet56-s0-*"))
    if not runs:
        raise SystemExit("No resnet56 run under checkpoints/; pass --run.")
    return runs[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--images", type=int, default=D.images)
    ap.add_argument("--iterations", type=int, default=D.steps)
    ap.add_argument("--samples", type=int, default=D.samples)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    path = a.run or default_run()
    run = open_run(path.parent, path.name)
    model = run.load_model().eval()
    try:
        p = load_shipped_probe()
        data = run.record.data
        x = normalize(p.images, torch.tensor(data.mean), torch.tensor(data.std))[: a.images]
        y, what = p.labels[: a.images], "shipped probe images"
    except (DataError, AttributeError):
        g = torch.Generator().manual_seed(0)
        x, y, what = torch.randn(a.images, 3, 32, 32, generator=g), torch.arange(a.images) % 10, "random images"
    print(f"{run.id}: {len(x)} {what}, eval-mode BatchNorm, {a.threads} torch thread(s)")

    def forward():
        with torch.no_grad():
            model(x)

    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        forward()
        times.append(time.perf_counter() - t)
    fwd = statistics.median(times)
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        torch.autograd.grad(F.cross_entropy(model(x), y), [q for q in model.parameters() if q.requires_grad])
        times.append(time.perf_counter() - t)
    fb = statistics.median(times)
    params = [q for q in model.parameters() if q.requires_grad]
    dim = sum(q.numel() for q in params)
    t = time.perf_counter()
    product = hessian_product(F.cross_entropy(model(x), y), params)
    grad = time.perf_counter() - t
    v = torch.randn(dim)
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        product(v)
        times.append(time.perf_counter() - t)
    hvp = statistics.median(times)
    t = time.perf_counter()
    top, bottom = lanczos_extremes(product, dim, iterations=a.iterations, tol=D.tol, min_steps=a.iterations)
    t_top = time.perf_counter() - t
    t = time.perf_counter()
    tr = hutchinson_trace(product, dim, samples=a.samples)
    t_tr = time.perf_counter() - t
    total = grad + t_top + t_tr
    floor = fb * (1 + 2 * (top.iterations + tr.samples))  # a product costs about two gradients (Pearlmutter 1994)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"forward pass           {fwd:8.2f} s   1.0x")
    print(f"forward + backward     {fb:8.2f} s   {fb / fwd:5.1f}x")
    print(f"gradient, graph kept   {grad:8.2f} s   {grad / fwd:5.1f}x")
    print(f"one Hessian-vector     {hvp:8.2f} s   {hvp / fwd:5.1f}x")
    print(f"extreme eigenvalues    {t_top:8.2f} s   {t_top / fwd:5.1f}x  ({top.iterations} Lanczos products, "
          f"converged {top.converged and bottom.converged}, lambda_max {top.value:.4g}, lambda_min {bottom.value:.3g})")
    print(f"trace, {tr.samples} samples      {t_tr:8.2f} s   {t_tr / fwd:5.1f}x  (trace {tr.value:.4g} ± {tr.se:.2g})")
    print(f"eigenvalues + trace    {total:8.2f} s   {total / fwd:5.1f}x   floor {floor / fwd:5.1f}x "
          f"(one gradient + {top.iterations + tr.samples} products of two gradients each)")
    print(f"peak resident memory {rss:.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
