"""`analyze`: separability of every stage of some runs, as one CSV table."""
from __future__ import annotations

import sys
from pathlib import Path

from ..settings import zoo_root


def add_parser(sub):
    a = sub.add_parser("analyze", help="separability of every stage of some runs, as a CSV table")
    a.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    a.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    a.add_argument("--data", default=None, help="data set for the probe set (default: the one each run was trained on)")
    a.add_argument("--reduction", choices=["gap", "flat"], default="gap")
    a.add_argument("--metrics", nargs="+", default=None,
                   help="default: fisher_trace_ratio fisher_criterion lda_accuracy mi_probe_bits mi_knn_bits")
    a.add_argument("--csv", required=True, type=Path, help="where to write the table")
    a.add_argument("--no-cache", action="store_true")
    a.add_argument("--no-progress", action="store_true")
    return a


def run(a) -> int:
    from ..analysis.table import analyze, check_metrics, write_csv
    from ..runs import open_run

    if a.metrics is not None:
        check_metrics(a.metrics)
    if a.csv.suffix.lower() != ".csv":
        raise ValueError(f"--csv must name a .csv file, got {str(a.csv)[:200]}.")
    runs = [open_run(a.root or zoo_root(), rid) for rid in a.run_ids]
    bar = None
    if not a.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=1000, desc="analysis", file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed} {postfix}")

    def progress(f, msg):
        if bar is not None:
            bar.update(int(f * 1000) - bar.n)
            bar.set_postfix_str(msg[-60:], refresh=False)

    df = analyze(runs, a.data, a.reduction, a.metrics, use_cache=not a.no_cache, progress=progress)
    if bar is not None:
        bar.close()
    write_csv(df, a.csv)
    print(f"{len(df)} rows ({len(runs)} runs x {df['stage'].nunique()} stages x {df['metric'].nunique()} metrics) -> {a.csv}")
    return 0
