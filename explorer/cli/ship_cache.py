"""`ship-cache`: the zoo's analyses written as the app's shipped cache (checkpoints/analysis/).

For every run of the zoo that has weights: the default metrics in both reductions and the
per-stage gap features, stored under the keys the cache uses, so that a fresh clone opens every
zoo comparison without computing a metric. Run it after changing the zoo or the metric code.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..settings import SHIPPED_CACHE, zoo_root
from .common import ArgError


def add_parser(sub):
    s = sub.add_parser("ship-cache", help="write the zoo's analyses as the shipped cache (checkpoints/analysis/)")
    s.add_argument("runs", nargs="*", metavar="RUN", help="run ids to (re)write (default: every run of the zoo)")
    s.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    s.add_argument("--reductions", nargs="+", choices=["gap", "flat"], default=["gap", "flat"])
    s.add_argument("--clean", action="store_true", help="remove the shipped entries first (entries of old keys)")
    return s


def run(a) -> int:
    from ..analysis.table import DEFAULT_METRICS, analyze_run
    from ..runs import list_runs

    if a.clean and SHIPPED_CACHE.is_dir():
        for p in SHIPPED_CACHE.iterdir():
            if p.suffix in (".json", ".safetensors"):
                p.unlink()
    runs = [r for r in list_runs(a.root or zoo_root()).runs if r.weights_file() is not None]
    if a.runs:
        unknown = sorted(set(a.runs) - {r.id for r in runs})
        if unknown:
            raise ArgError(f"No run with weights named {', '.join(unknown)} in {a.root or zoo_root()}; "
                           "expected ids as `python -m explorer runs` lists them.")
        runs = [r for r in runs if r.id in a.runs]
    for i, run_ in enumerate(runs):
        for reduction in a.reductions:
            t0 = time.perf_counter()
            analyze_run(run_, None, reduction, DEFAULT_METRICS, use_cache=False, ship=True)
            print(f"[{i + 1}/{len(runs)}] {run_.id} {reduction}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(f"{len(runs)} runs x {len(a.reductions)} reductions -> {SHIPPED_CACHE}")
    return 0
