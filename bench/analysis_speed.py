"""Separability analysis speed and memory.

    python bench/analysis_speed.py [--data PATH|digits]

1. resnet18 (random weights) on the 500-image probe set: time of the forward extraction vs the
   time of the five default metrics over all five stages, for both reductions; ratio metrics/forward.
2. Peak RSS of a resnet50 'flat' analysis (five stages, five metrics), in a fresh process.
3. Cold and cached time of a 4-run resnet20 table (FULL / Nres / Nbn / Nboth, random weights).

Every time is a median of 3 (each repeat starts cold). The load average is printed beside: the
metrics use multi-threaded BLAS, which slows far more than the forward pass when another
process competes for the cores (3x the ratio on this 2-core machine beside a training run).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.analysis.table import DEFAULT_METRICS, analyze, score_features  # noqa: E402
from explorer.data import load_dataset, probe_set  # noqa: E402
from explorer.analysis.features import extract  # noqa: E402
from explorer.models import ModelSpec, build_model  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"


def forward_vs_metrics(data, model_name: str, reduction: str) -> tuple[float, float]:
    probe = probe_set(data)
    mean, std = data.mean_std()
    torch.manual_seed(0)
    model = build_model(model_name)
    t0 = time.perf_counter()
    feats = extract(model, probe.images, mean, std, reduction=reduction)
    t1 = time.perf_counter()
    from explorer.separability import one_blas_thread
    with one_blas_thread():  # as the analysis runs them (explorer.analysis.table.analyze_run)
        score_features(feats, probe.labels.numpy(), DEFAULT_METRICS)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def rss_child(data_arg: str) -> None:
    data = load_dataset(data_arg)
    forward_vs_metrics(data, "resnet50", "flat")


def four_run_table(data, source: str) -> tuple[float, float]:
    from explorer.jobs.runner import data_info
    from explorer.runs import create_run, write_weights
    from explorer.train import TrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EXPLORER_CACHE"] = str(Path(tmp) / "cache")
        runs = []
        for residual, bn in [(True, True), (False, True), (True, False), (False, False)]:
            spec = ModelSpec("cifar", 20, residual, bn)
            torch.manual_seed(0)
            run = create_run(Path(tmp) / "runs", spec, TrainConfig(epochs=1), data_info(data, source),
                             probe_set(data).hash, status="finished")
            write_weights(run.path / "weights.safetensors", build_model(spec).state_dict(), spec)
            runs.append(run)
        from explorer import separability
        from explorer.analysis import inputs as probes
        separability._FOLD_CACHE.clear()  # cold: no fold projection or probe resolution kept from a repeat
        probes.forget()
        t0 = time.perf_counter()
        analyze(runs, data)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        analyze(runs, data)
        return cold, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED) if SHARED.exists() else "digits")
    ap.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.rss_child:
        rss_child(a.data)
        return
    data = load_dataset(a.data)
    print(f"data: {data.description}; torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}")
    import statistics
    from explorer import separability as sep
    for reduction in ("gap", "flat"):
        fwds, mets = [], []
        for _ in range(3):
            sep._FOLD_CACHE.clear()  # each repeat starts cold
            fwd, met = forward_vs_metrics(data, "resnet18", reduction)
            fwds.append(fwd)
            mets.append(met)
        fwd, met = statistics.median(fwds), statistics.median(mets)
        print(f"resnet18 {reduction:>4}: forward {fwd:6.2f} s, {len(DEFAULT_METRICS)} metrics x 5 stages {met:6.2f} s, "
              f"metrics/forward = {met / fwd:.2f} (target <= 1.0; medians of 3)")
    subprocess.run([sys.executable, __file__, "--data", a.data, "--rss-child"], check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"resnet50 flat analysis peak RSS: {peak:.2f} GiB (target <= 3 GB)")
    times = [four_run_table(data, a.data) for _ in range(3)]
    cold, warm = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
    print(f"4-run resnet20 table: cold {cold:.2f} s (target <= 10 s), cached {warm:.3f} s (target <= 0.5 s); medians of 3")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
