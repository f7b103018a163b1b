"""`verdict`: the verdict table (every explanation, both contrasts, each net's mean and 95% CI) as a CSV."""
from __future__ import annotations

from pathlib import Path

from ..settings import zoo_root
from .common import ArgError


def add_parser(sub):
    v = sub.add_parser("verdict", help="write the verdict table (both contrasts of every row) as a CSV")
    v.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    v.add_argument("--shallow", type=int, default=20, help="the shallow depth (default 20)")
    v.add_argument("--deep", type=int, default=56, help="the deep depth (default 56)")
    v.add_argument("--csv", type=Path, required=True, help="where to write the table")
    return v


def run(a) -> int:
    from ..analysis.table import write_csv
    from ..runs import list_runs
    from ..verdict.core import build
    if not 0 < a.shallow < a.deep:
        raise ArgError(f"--shallow must be a positive depth below --deep; got {a.shallow} and {a.deep}.")
    v = build(list_runs(a.root or zoo_root()).runs, a.shallow, a.deep)
    if not v.rows:
        raise ArgError(f"No finished plain or residual runs with BatchNorm at depths {a.shallow} and {a.deep} "
                       f"in {a.root or zoo_root()}: there is no verdict to write.")
    write_csv(v.to_frame(), a.csv)
    status = ", ".join(f"{r.explanation}: {r.status}" for r in v.rows)
    print(f"{len(v.rows)} rows -> {a.csv} ({status})")
    return 0
