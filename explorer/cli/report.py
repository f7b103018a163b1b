"""`report`: docs/RESULTS.md regenerated from the runs present."""
from __future__ import annotations

from pathlib import Path

from ..settings import REPO_ROOT, zoo_root


def add_parser(sub):
    r = sub.add_parser("report", help="regenerate the results page from the runs present")
    r.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    r.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "RESULTS.md")
    r.add_argument("--no-figures", action="store_true", help="markdown only, no PNG figures")
    return r


def run(a) -> int:
    from ..report.main import build
    text = build(a.root or zoo_root(), a.out, figures=not a.no_figures)
    print(f"{a.out}: {len(text.splitlines())} lines")
    return 0
