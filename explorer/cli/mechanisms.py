"""`mechanisms`: lesions, per-block profiles, signal propagation, loss landscape or shattered
gradients of some runs, as one CSV table."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..settings import owner, zoo_root


def add_parser(sub):
    from ..studies.analysis import KINDS, LandscapeSettings, ShatterSettings
    land, shat = LandscapeSettings(), ShatterSettings()
    m = sub.add_parser("mechanisms", help="lesions, per-block profiles, signal propagation, loss landscape or "
                                          "shattered gradients of some runs (CSV)")
    m.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    m.add_argument("--kind", required=True, choices=list(KINDS))
    m.add_argument("--images", type=int, default=land.images, help="landscape: training images evaluated")
    m.add_argument("--points", type=int, default=None,
                   help=f"landscape: points a 1-D slice (default {land.points}); shatter: gradients a line "
                        f"(default {shat.points})")
    m.add_argument("--grid", type=int, default=land.grid, help="landscape: the 2-D slice is GRID x GRID (0: none)")
    m.add_argument("--span", type=float, default=land.span, help="landscape: steps in [-SPAN, SPAN]")
    m.add_argument("--lines", type=int, default=shat.lines, help="shatter: lines between probe images")
    m.add_argument("--target", choices=["logit", "loss"], default=shat.target, help="shatter: the gradient of what")
    m.add_argument("--progress-file", type=Path, default=None, help="write progress (JSON) here while computing")
    m.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    m.add_argument("--csv", type=Path, default=None, help="where to write the table (default: only the cache)")
    m.add_argument("--no-cache", action="store_true")
    m.add_argument("--test-set", action="store_true",
                   help="lesion: also delete each block over the full test split (needs the run's data here)")
    m.add_argument("--ship", action="store_true", help="write the results into the shipped cache (zoo maintainers)")
    return m


def run(a) -> int:
    from ..analysis.table import write_csv
    from ..atomic import atomic_write_json
    from ..studies.analysis import LandscapeSettings, ShatterSettings, mechanism_table
    from ..runs import open_run
    from ..analysis.run_tables import label_table
    import pandas as pd

    if a.csv is not None and a.csv.suffix.lower() != ".csv":
        raise ValueError(f"--csv must name a .csv file, got {str(a.csv)[:200]}.")
    points = {"points": a.points} if a.points is not None else {}  # --points belongs to the kind being run
    land = LandscapeSettings(images=a.images, grid=a.grid, span=a.span, **(points if a.kind == "landscape" else {}))
    shat = ShatterSettings(lines=a.lines, target=a.target, **(points if a.kind == "shatter" else {}))
    def report(fraction: float, run_id: str = "", what: str = "") -> None:
        if a.progress_file is not None:  # the app reads our pid from here to know the study is alive
            atomic_write_json(a.progress_file, {"fraction": fraction, "run": run_id, "what": what, "pid": os.getpid(),
                                                "owner": owner()})
    report(0.0, what="loading")
    runs = [open_run(a.root or zoo_root(), rid) for rid in a.run_ids]
    parts = []
    for i, run_ in enumerate(runs):
        print(f"[{i + 1}/{len(runs)}] {run_.id}: {a.kind}", file=sys.stderr)
        parts.append(mechanism_table(run_, a.kind, use_cache=not a.no_cache, ship=a.ship, test_set=a.test_set,
                                     landscape=land, shatter=shat,
                                     progress=lambda f, what, i=i, rid=run_.id: report((i + f) / len(runs), rid, what)))
    report(1.0, what="done")
    df = label_table(pd.concat(parts, ignore_index=True), runs)
    if a.csv is not None:
        write_csv(df, a.csv)
    print(f"{len(df)} rows ({len(runs)} runs, {a.kind})" + (f" -> {a.csv}" if a.csv else " (into the cache)"))
    return 0
