"""Markdown pieces of the results page: tables and percentages."""
from __future__ import annotations

import numpy as np
import pandas as pd


def pct(v) -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.2f}"


def md_table(df: pd.DataFrame, floats: str | None = None) -> str:
    """A markdown table; ``floats``: a format for float cells (NaN left blank). A "|" in a cell is escaped."""
    def cell(v) -> str:
        if floats and isinstance(v, float):
            v = "" if v != v else format(v, floats)
        return str(v).replace("|", "\\|")
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(cell(r[c]) for c in cols) + " |")
    return "\n".join(lines)
