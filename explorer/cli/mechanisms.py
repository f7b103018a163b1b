"""`mechanisms`: one registered study (lesions, per-block profiles, signal propagation, loss landscape,
shattered gradients, ...) of some runs, as one CSV table. The kinds and their flags come from the
study registry (explorer.studies.catalog): a flag belongs to the kind being run."""
from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

from ..settings import owner, zoo_root


def _flags():
    """flag -> [(study, field)] over every registered study (several studies may share a flag)."""
    from ..studies.catalog import REGISTRY
    out = defaultdict(list)
    for study in REGISTRY.values():
        for f in study.setting_fields():
            out[f.metadata["flag"]].append((study, f))
    return out


def add_parser(sub):
    from ..studies.catalog import REGISTRY
    m = sub.add_parser("mechanisms", help="a study of some runs (CSV): " + ", ".join(REGISTRY))
    m.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    m.add_argument("--kind", required=True, choices=list(REGISTRY))
    for flag, owners in _flags().items():
        f = owners[0][1]
        helps = "; ".join(f"{f2.metadata['help']} (default {f2.default})" for _, f2 in owners)
        if isinstance(f.default, bool):
            m.add_argument(flag, action="store_true", default=None, help=helps)
        else:
            m.add_argument(flag, type=type(f.default), default=None, help=helps,
                           **({"choices": list(f.metadata["choices"])} if f.metadata["choices"] else {}))
    m.add_argument("--progress-file", type=Path, default=None, help="write progress (JSON) here while computing")
    m.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    m.add_argument("--csv", type=Path, default=None, help="where to write the table (default: only the cache)")
    m.add_argument("--no-cache", action="store_true")
    m.add_argument("--ship", action="store_true", help="write the results into the shipped cache (zoo maintainers)")
    return m


def settings_from_args(study, a):
    """The kind's settings from the flags given (a flag of another kind is ignored); defaults otherwise."""
    values = {}
    for f in study.setting_fields():
        v = getattr(a, f.metadata["flag"].lstrip("-").replace("-", "_"), None)
        if v is not None:
            values[f.name] = v
    return study.from_values(values)


def run(a) -> int:
    import pandas as pd

    from ..analysis.run_tables import label_table
    from ..analysis.table import write_csv
    from ..atomic import atomic_write_json
    from ..runs import open_run
    from ..studies.catalog import get, study_table

    if a.csv is not None and a.csv.suffix.lower() != ".csv":
        raise ValueError(f"--csv must name a .csv file, got {str(a.csv)[:200]}.")
    study = get(a.kind)
    settings = settings_from_args(study, a)

    def report(fraction: float, run_id: str = "", what: str = "") -> None:
        if a.progress_file is not None:  # the app reads our pid from here to know the study is alive
            atomic_write_json(a.progress_file, {"fraction": fraction, "run": run_id, "what": what, "pid": os.getpid(),
                                                "owner": owner()})

    report(0.0, what="loading")
    runs = [open_run(a.root or zoo_root(), rid) for rid in a.run_ids]
    parts = []
    for i, run_ in enumerate(runs):
        print(f"[{i + 1}/{len(runs)}] {run_.id}: {a.kind}", file=sys.stderr)
        parts.append(study_table(run_, study, settings, use_cache=not a.no_cache, ship=a.ship,
                                 progress=lambda f, what, i=i, rid=run_.id: report((i + f) / len(runs), rid, what)))
    report(1.0, what="done")
    df = label_table(pd.concat(parts, ignore_index=True), runs)
    if a.csv is not None:
        write_csv(df, a.csv)
    print(f"{len(df)} rows ({len(runs)} runs, {a.kind})" + (f" -> {a.csv}" if a.csv else " (into the cache)"))
    return 0
