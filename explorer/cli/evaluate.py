"""`evaluate RUN_ID…`: test accuracy, mean loss and per-class accuracy on the full test split, into each run's record."""
from __future__ import annotations

import sys
from pathlib import Path

from ..settings import zoo_root


def add_parser(sub):
    e = sub.add_parser("evaluate", help="test accuracy, loss and per-class accuracy of runs (imported ones too)")
    e.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    e.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    e.add_argument("--data", default=None, help="data set to evaluate on (default: the one each run records)")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    return e


def run(a) -> int:
    from ..analysis.evaluation import eval_data, evaluate_run, store_evaluation
    from ..runs import open_run

    runs = [open_run(a.root or zoo_root(), rid) for rid in dict.fromkeys(a.run_ids)]  # every id checked first
    loaded = {}
    for r in runs:
        key = a.data or r.record.data.source or r.record.data.name
        if key not in loaded:
            loaded[key] = eval_data(r, a.data)
        data = loaded[key]
        bar = None
        if not a.no_progress:
            from tqdm import tqdm
            bar = tqdm(total=len(data.test_y), desc=r.id[:40], unit="img", file=sys.stderr, dynamic_ncols=True)
        final = evaluate_run(r, data, (lambda done, n: bar.update(done - bar.n)) if bar else None, device=a.device)
        if bar is not None:
            bar.close()
        store_evaluation(r, final)
        loss = "-" if final.test_loss is None else f"{final.test_loss:.4f}"
        print(f"{r.id}: test acc {100 * final.test_acc:.2f}%, loss {loss} on {final.evaluated_on}")
        per = ", ".join(f"{c} {100 * v:.1f}%" for c, v in zip(data.classes, final.test_per_class))
        print(f"    per class: {per}")
    return 0
