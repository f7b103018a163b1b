"""`ship-cache`: the zoo's analyses written as the app's shipped cache (checkpoints/analysis/).

For every run of the zoo that has weights: the default metrics in both reductions and the
per-stage gap features, stored under the keys the cache uses, so that a fresh clone opens every
zoo comparison without computing a metric. Run it after changing the zoo or the metric code.
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
    from ..analysis.table import DEFAULT_METRICS, analyze_run
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
            analyze_run(run_, None, reduction, DEFAULT_METRICS, use_cache=False, ship=True)
            print(f"[{i + 1}/{len(runs)}] {run_.id} {reduction}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(f"{len(runs)} runs x {len(a.reductions)} reductions -> {SHIPPED_CACHE}")
    return 0
