"""`runs`: every run of a store with its condition, label, status and final accuracies."""
from __future__ import annotations

import json
from pathlib import Path

from ..settings import shorten, zoo_root


def add_parser(sub):
    r = sub.add_parser("runs", help="list runs")
    r.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    r.add_argument("--json", action="store_true", help="one JSON object a run (and a list of broken folders)")
    return r


def run(a) -> int:
    from ..runs import list_runs
    from ..analysis.run_tables import runs_table

    root = a.root or zoo_root()
    listing = list_runs(root)
    table = runs_table(listing.runs)
    if a.json:
        rows = json.loads(table.to_json(orient="records")) if len(table) else []
        broken = [{"run_id": b.id, "status": "broken", "reason": b.reason} for b in listing.broken]
        print(json.dumps({"runs": rows, "broken": broken}, indent=2))
        return 0
    if table.empty and not listing.broken:
        print(f"No runs in {shorten(root)}.")
        return 0
    pct = lambda v: "-" if v is None or v != v else f"{100 * v:.2f}%"  # noqa: E731
    fmt = "{:<58} {:<9} {:<12} {:>7} {:>9} {:>8}"
    print(fmt.format("run (label)", "condition", "status", "epochs", "train acc", "test acc"))
    for _, r in table.iterrows():
        epochs = f"{r['epochs_done']}/{'?' if r['epochs'] is None or r['epochs'] != r['epochs'] else int(r['epochs'])}"
        print(fmt.format(r["label"][:58], r["condition"], r["status"], epochs, pct(r["train_acc"]), pct(r["test_acc"])))
        reason = r["reason"] if isinstance(r["reason"], str) else ""  # pandas makes a missing one NaN
        print(f"    {r['run_id']}" + (f"  ({reason})" if reason else ""))
    for b in listing.broken:
        print(f"{b.id[:58]:<58} {'':<9} broken\n    {b.reason}")
    return 0
