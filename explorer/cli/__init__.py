"""`python -m explorer train|worker|runs|analyze|mechanisms|evaluate|ship-cache|report|verdict|import|download-cifar10`.

One module a command, each exposing ``add_parser(sub)`` and ``run(args) -> int``. Bad input
gets one line on stderr saying what was expected, and exit code 2.
"""
from __future__ import annotations

import sys

from . import analyze
from . import download
from . import evaluate
from . import import_weights
from . import mechanisms
from . import report
from . import runs
from . import ship_cache
from . import train
from . import verdict
from . import worker
from .common import USER_ERRORS, ArgError, Parser, add_model_args, model_spec_from_args  # noqa: F401

COMMANDS = [train, worker, runs, analyze, mechanisms, evaluate, ship_cache, report, verdict, import_weights, download]


def build_parser() -> Parser:
    ap = Parser(prog="python -m explorer", description="Residual Explorer: train, list, analyse and report runs.")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_parser(sub).set_defaults(handler=module.run)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return a.handler(a)
    except USER_ERRORS as e:
        from ..settings import shorten
        text = f"{e.strerror}: {shorten(e.filename, 120)}" if isinstance(e, OSError) and e.filename else str(e)
        print(f"error: {shorten(text, 600)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last finished epoch is saved and the run can be resumed.", file=sys.stderr)
        return 130
