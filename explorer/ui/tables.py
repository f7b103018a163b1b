"""Tables as the pages show them: the values first, the identifiers after them, a missing value as "-"."""
from __future__ import annotations

import pandas as pd
import streamlit as st

# columns that say which run or condition a row belongs to: shown after the values (the CSVs keep every column)
IDENTIFIERS = ("label", "run", "run_id", "condition_label", "condition", "group_label", "group", "condition_text")
MISSING = "-"
ROW_PX, HEADER_PX = 35, 38  # Streamlit's row and header heights: a table as tall as its rows, no empty row


def values_first(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its identifier columns (run id, label, condition) moved after the value columns."""
    ids = [c for c in IDENTIFIERS if c in df.columns]
    return df[[c for c in df.columns if c not in ids] + ids]


def blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns with None / NaN written as "-" (Streamlit would print "None")."""
    out = df.copy()
    for c in out.columns:
        text = pd.api.types.is_object_dtype(out[c]) or pd.api.types.is_string_dtype(out[c])  # pandas 3: "str"
        if text and out[c].isna().any():
            out[c] = out[c].astype(object).where(out[c].notna(), MISSING)
    return out


def _number(v) -> str:
    """A number of a column with gaps: "-" for a gap, a whole number as one (a seed, epochs), else 4 digits."""
    if v is None or pd.isna(v):
        return MISSING
    return f"{v:.0f}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def show_table(df: pd.DataFrame, *, all_rows: bool = False, **kw):
    """``st.dataframe`` of ``df``: values first, missing values as "-" (numbers too, then shown as text), full width.

    ``all_rows``: as tall as its rows (no scroll box, no empty row at the end). Returns the widget's value
    (a selection event where ``on_select`` is given).
    """
    shown = blank_missing(values_first(df))
    # a number column with gaps as text: Streamlit prints a missing number as "None" whatever a Styler says
    # (the CSV keeps the numbers)
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]) and shown[c].isna().any():
            shown[c] = shown[c].map(_number)
    data = shown
    if all_rows:
        kw.setdefault("height", HEADER_PX + ROW_PX * max(1, len(shown)) + 2)
    kw.setdefault("width", "stretch")
    return st.dataframe(data, hide_index=True, **kw)


def wrapped_table(df: pd.DataFrame) -> None:
    """A static table whose long texts wrap inside the page's width (no horizontal scrolling), every row shown."""
    st.table(blank_missing(df).style.hide(axis="index"))
