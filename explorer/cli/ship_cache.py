"""`ship-cache`: the zoo's analyses written as the app's shipped cache (checkpoints/analysis/).

For every run of the zoo that has weights: every metric in both reductions (one entry a metric) and
the per-stage gap features, stored under the keys the cache uses, so that a fresh clone opens every
zoo comparison, with any selection of metrics, without computing one. Entries already shipped are
kept (only the metrics missing are scored); after changing the metric code, --clean first.
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
    s.add_argument("--studies", action="store_true",
                   help="also every registered study that runs on the page (not the background ones), default settings")
    return s


def run(a) -> int:
    from ..analysis.table import analyze_run
    from ..separability import METRICS
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
            analyze_run(run_, None, reduction, list(METRICS), ship=True)
            print(f"[{i + 1}/{len(runs)}] {run_.id} {reduction}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if a.studies:
        from ..studies.catalog import REGISTRY, study_table
        for study in (s for s in REGISTRY.values() if not s.background):
            for run_ in runs:
                study_table(run_, study, ship=True)
            print(f"{study.name}: {len(runs)} runs", file=sys.stderr)
    print(f"{len(runs)} runs x {len(a.reductions)} reductions -> {SHIPPED_CACHE}")
    return 0
