"""`ship-cache`: the zoo's analyses written as the app's shipped cache (checkpoints/analysis/).

For every run of the zoo that has weights: every metric in both reductions (one entry a metric) and
the per-stage gap features, stored under the keys the cache uses, so that a fresh clone opens every
zoo comparison, with any selection of metrics, without computing one. Entries already shipped are
kept (only the metrics missing are scored); after changing the metric code, --clean first.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from ..settings import SHIPPED_CACHE, zoo_root
from .common import ArgError

ENTRY = re.compile(r"[0-9a-f]{32}\.(json|safetensors)")


def add_parser(sub):
    s = sub.add_parser("ship-cache", help="write the zoo's analyses as the shipped cache (checkpoints/analysis/)")
    s.add_argument("runs", nargs="*", metavar="RUN", help="run ids to (re)write (default: every run of the zoo)")
    s.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    s.add_argument("--reductions", nargs="+", choices=["gap", "flat"], default=["gap", "flat"])
    s.add_argument("--clean", action="store_true", help="first remove the shipped entries of the named runs (none named: of every run, and those of old keys); the mechanism studies' entries are kept")
    s.add_argument("--studies", action="store_true",
                   help="also every registered study that runs on the page (not the background ones), default settings")
    return s


def clean(runs, every: bool) -> int:
    """Remove the shipped entries this command writes (metric tables, features, 2-D views; not the mechanism
    studies, which `mechanisms --ship` writes): those of ``runs`` (their weights' hash in the entry's key),
    or with ``every`` all of them and any unreadable one. Only regular ``<32 hex>.json|.safetensors`` files
    directly in the shipped cache are touched; all are chosen before the first is removed."""
    from ..analysis.cache import entry_key
    from ..analysis.inputs import weights_hash

    if not SHIPPED_CACHE.is_dir() or SHIPPED_CACHE.is_symlink():
        return 0
    hashes = {weights_hash(r) for r in runs}
    doomed = []
    for p in sorted(SHIPPED_CACHE.iterdir()):
        if not (ENTRY.fullmatch(p.name) and p.is_file() and not p.is_symlink() and p.parent == SHIPPED_CACHE):
            continue
        key = entry_key(p)
        if key is not None and str(key.get("kind", "")).startswith("mechanism-"):
            continue
        if (every and key is None) or (key is not None and (every or key.get("weights") in hashes)):
            doomed.append(p)
    for p in doomed:
        p.unlink(missing_ok=True)
    return len(doomed)


def run(a) -> int:
    from ..analysis.table import analyze_run
    from ..separability import METRICS
    from ..runs import list_runs

    runs = [r for r in list_runs(a.root or zoo_root()).runs if r.weights_file() is not None]
    if a.runs:  # every id checked before anything is removed
        unknown = sorted(set(a.runs) - {r.id for r in runs})
        if unknown:
            raise ArgError(f"No run with weights named {', '.join(unknown)} in {a.root or zoo_root()}; "
                           "expected ids as `python -m explorer runs` lists them; nothing was removed.")
        runs = [r for r in runs if r.id in a.runs]
    if a.clean:
        removed = clean(runs, every=not a.runs)
        print(f"removed {removed} shipped entries", file=sys.stderr)
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
