"""`mechanisms`: lesion study, per-block profiles or signal propagation of some runs, as one CSV table."""
from __future__ import annotations

import sys
from pathlib import Path

from ..settings import zoo_root


def add_parser(sub):
    m = sub.add_parser("mechanisms", help="lesions, per-block profiles or signal propagation of some runs (CSV)")
    m.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    m.add_argument("--kind", required=True, choices=["lesion", "profile", "signal"])
    m.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    m.add_argument("--csv", required=True, type=Path, help="where to write the table")
    m.add_argument("--no-cache", action="store_true")
    m.add_argument("--test-set", action="store_true",
                   help="lesion: also delete each block over the full test split (needs the run's data here)")
    m.add_argument("--ship", action="store_true", help="write the results into the shipped cache (zoo maintainers)")
    return m


def run(a) -> int:
    from ..analysis import write_csv
    from ..mechanism_analysis import mechanism_table
    from ..runs import open_run
    from ..tables import label_table
    import pandas as pd

    if a.csv.suffix.lower() != ".csv":
        raise ValueError(f"--csv must name a .csv file, got {str(a.csv)[:200]}.")
    runs = [open_run(a.root or zoo_root(), rid) for rid in a.run_ids]
    parts = []
    for i, run_ in enumerate(runs):
        print(f"[{i + 1}/{len(runs)}] {run_.id}: {a.kind}", file=sys.stderr)
        parts.append(mechanism_table(run_, a.kind, use_cache=not a.no_cache, ship=a.ship, test_set=a.test_set))
    df = label_table(pd.concat(parts, ignore_index=True), runs)
    write_csv(df, a.csv)
    print(f"{len(df)} rows ({len(runs)} runs, {a.kind}) -> {a.csv}")
    return 0
