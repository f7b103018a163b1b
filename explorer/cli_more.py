"""CLI commands above the training layer: analyze, report, import."""
from __future__ import annotations

import sys
from pathlib import Path

from .runs import DEFAULT_ROOT

HANDLERS: dict = {}


def add_parsers(sub) -> None:
    a = sub.add_parser("analyze", help="separability of every stage of some runs, as a CSV table")
    a.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    a.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    a.add_argument("--data", default=None, help="data set for the probe set (default: the one each run was trained on)")
    a.add_argument("--reduction", choices=["gap", "flat"], default="gap")
    a.add_argument("--metrics", nargs="+", default=None, help="default: fisher_trace_ratio fisher_criterion lda_accuracy mi_probe_bits mi_knn_bits")
    a.add_argument("--csv", required=True, type=Path, help="where to write the table")
    a.add_argument("--no-cache", action="store_true")
    a.add_argument("--no-progress", action="store_true")


    r = sub.add_parser("report", help="regenerate the results page from the runs present")
    r.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    r.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"))
    r.add_argument("--no-figures", action="store_true", help="markdown only, no PNG figures")


    i = sub.add_parser("import", help="import weights (.safetensors, or a .pt/.pth state dict) as a run")
    i.add_argument("file", type=Path)
    from .cli import _add_model_args
    _add_model_args(i)
    i.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    i.add_argument("--data", default=None, help="the data set the weights were trained on (for later analysis)")


def cmd_import(a) -> int:
    from .cli import model_spec_from_args
    from .importer import import_file

    info = None
    spec = model_spec_from_args(a)
    if a.data:
        from .data import load_dataset
        from .models import ModelSpec
        from .runner import data_info
        ds = load_dataset(a.data)
        info = data_info(ds, a.data)
        spec = ModelSpec(**{**spec.to_dict(), "num_classes": ds.num_classes})
    run = import_file(a.file, spec, a.root, data_info=info)
    print(f"imported {a.file} as {spec.label}: run {run.id} -> {run.path}")
    return 0


def cmd_report(a) -> int:
    from .report import build
    text = build(a.root, a.out, figures=not a.no_figures)
    print(f"{a.out}: {len(text.splitlines())} lines")
    return 0


def cmd_analyze(a) -> int:
    from .analysis import analyze, check_metrics, write_csv
    from .runs import open_run

    if a.metrics is not None:
        check_metrics(a.metrics)
    if a.csv.suffix.lower() != ".csv":
        raise ValueError(f"--csv must name a .csv file, got {a.csv}.")
    runs = [open_run(a.root, rid) for rid in a.run_ids]
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


HANDLERS.update({"analyze": cmd_analyze, "report": cmd_report, "import": cmd_import})
