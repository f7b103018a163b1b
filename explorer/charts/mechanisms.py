"""Altair charts of the mechanism tables (explorer.studies.catalog): a table in, a chart out.

The depth axis is in blocks (0 = the stem), with stage boundaries drawn as rules; colour is the
condition (the app's one colour map), one line a run.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .common import color_encoding

INT_AXIS = alt.Axis(format="d", tickMinStep=1)
SIGNAL_MEASURES = {
    "output_std": ("std of the block output", True),
    "branch_std": ("std of the residual branch (after BN, before the addition)", True),
    "var_ratio": ("Var(branch) / Var(shortcut)", True),
    "stable_rank": ("stable rank of the block output (not centred)", False),
    "stable_rank_centred": ("stable rank of the block output (centred)", False),
    "grad_norm": ("‖∂loss/∂(block output)‖", True),
}
PROFILE_MEASURES = {"lda_accuracy": "LDA accuracy (5-fold CV, fraction)", "mi_probe_bits": "usable information (bits)",
                    "fisher_trace_ratio": "tr(S_B) / tr(S_W)", "cka_prev": "linear CKA with the previous block"}


def _depth(df: pd.DataFrame) -> pd.DataFrame:
    """A block-depth column: 0 for the stem, then 1, 2, ... in the order of the blocks."""
    out = df.replace([np.inf, -np.inf], np.nan)  # JSON (and Vega) have no infinity
    order = {b: i for i, b in enumerate(dict.fromkeys(out["block"]))}
    out["depth"] = out["block"].map(order)
    return out


def _stage_rules(df: pd.DataFrame) -> alt.Chart:
    firsts = df.groupby(["stage"])["depth"].min().reset_index()
    firsts = firsts[firsts["depth"] > 0]
    return alt.Chart(firsts).mark_rule(strokeDash=[3, 3], color="gray").encode(x="depth:Q", tooltip=["stage"])


def lesion_single_chart(df: pd.DataFrame, colors: dict | None = None, view: str = "single") -> alt.Chart:
    d = _depth(df[df["view"] == view])
    d["depth"] = d["index"] + 1
    line = alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("depth:Q", title="deleted block (1 = the first block after the stem)", axis=INT_AXIS),
        y=alt.Y("accuracy:Q", title="probe accuracy with that block deleted", scale=alt.Scale(domain=[0, 1])),
        detail="label:N", color=color_encoding("condition_label:N", "condition (one line a run)", colors),
        tooltip=["label", "block", "shortcut", "deletable", alt.Tooltip("accuracy:Q", format=".3f")])
    chance = alt.Chart(pd.DataFrame({"y": [1 / 10]})).mark_rule(color="gray", strokeDash=[2, 2]).encode(y="y:Q")
    return (line + chance + _stage_rules(d)).properties(
        title="accuracy with one block deleted at test time", height=300)


def lesion_curve_chart(df: pd.DataFrame, colors: dict | None = None) -> alt.Chart:
    d = df[df["view"] == "curve"]
    base = alt.Chart(d).encode(x=alt.X("k:Q", title="blocks deleted at random", axis=INT_AXIS), detail="label:N",
                               color=color_encoding("condition_label:N", "condition (one line a run)", colors))
    return (base.mark_area(opacity=0.15).encode(y=alt.Y("accuracy_min:Q", title="probe accuracy", scale=alt.Scale(domain=[0, 1])),
                                                y2="accuracy_max:Q")
            + base.mark_line(point=True).encode(y="accuracy_mean:Q", tooltip=["label", "k", alt.Tooltip("accuracy_mean:Q", format=".3f"),
                                                                                 "draws"])
            ).properties(title="accuracy against the number of blocks deleted at random", height=300)


def profile_chart(df: pd.DataFrame, measure: str, colors: dict | None = None) -> alt.Chart:
    d = _depth(df)
    line = alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("depth:Q", title="block (0 = stem); dashed rules: stage boundaries", axis=INT_AXIS),
        y=alt.Y(f"{measure}:Q", title=PROFILE_MEASURES[measure]), detail="label:N",
        color=color_encoding("condition_label:N", "condition (one line a run)", colors),
        tooltip=["label", "block", alt.Tooltip(f"{measure}:Q", format=".3f")])
    return (line + _stage_rules(d)).properties(title=f"{PROFILE_MEASURES[measure]}, block by block", height=300)


def signal_chart(df: pd.DataFrame, measure: str, colors: dict | None = None) -> alt.Chart:
    d = _depth(df)
    d = d[d[measure].notna()]
    title, log = SIGNAL_MEASURES[measure]
    x = alt.X("depth:Q", title="block (0 = stem); dashed rules: stage boundaries", axis=INT_AXIS)
    y = alt.Y(f"{measure}:Q", title=title + (" (log)" if log else ""), scale=alt.Scale(type="log" if log else "linear"))
    color = color_encoding("condition_label:N", "condition (one line a run)", colors)
    # the dash legend draws strokes (solid: trained, dashed: init); points are a layer of their own, so that the
    # legend does not draw both as the same dot
    line = alt.Chart(d).mark_line().encode(
        x=x, y=y, detail="label:N", color=color,
        strokeDash=alt.StrokeDash("weights:N", title="weights", sort=["trained", "init"],
                                  legend=alt.Legend(symbolType="stroke", symbolStrokeColor="black",
                                                    symbolStrokeWidth=2)))
    points = alt.Chart(d).mark_point(filled=True, size=30).encode(
        x=x, y=y, detail="label:N", color=color,
        tooltip=["label", "weights", "block", alt.Tooltip(f"{measure}:Q", format=".3e")])
    return (line + points + _stage_rules(d)).properties(title=f"{title}: trained (solid) and at initialisation (dashed)",
                                                         height=300)
