"""CLI commands above the training layer: analyze, report, import (filled in as they land)."""
from __future__ import annotations

USER_ERRORS: tuple = ()
HANDLERS: dict = {}


def add_parsers(sub) -> None:
    return None
