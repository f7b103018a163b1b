"""Altair chart builders: a tidy table (explorer.tables) in, an alt.Chart out.

Colour and legend entries are per condition when replicates are aggregated (``group_label``)
and per run otherwise (``run``, unique among the runs shown). Nothing here imports Streamlit;
the app and the report both use these.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .tables import band, reference_table


# --------------------------------------------------------------------------- charts
def curves_chart(hist: pd.DataFrame, value: str = "accuracy", band_kind: str | None = None,
                 splits: tuple[str, ...] = ("train", "test")) -> alt.Chart:
    """Per-epoch curves; with ``band_kind`` the replicates of a condition become a mean line and a band."""
    df = hist[hist["split"].isin(splits)].dropna(subset=[value])
    clip = (0.0, 1.0) if value == "accuracy" else (0.0, float("inf"))
    dash = alt.StrokeDash("split:N", title="split (dashed: train)", sort=list(splits),
                          scale=alt.Scale(domain=list(splits), range=[[5, 3], [1, 0], [2, 2]][:len(splits)]))
    if band_kind:
        g = band(df, ["group", "group_label", "split", "epoch"], value, band_kind, clip=clip)
        sel = alt.selection_point(fields=["group_label"], bind="legend")
        base = alt.Chart(g).encode(x=alt.X("epoch:Q", title="epoch"),
                                   color=alt.Color("group_label:N", title="condition", legend=alt.Legend(labelLimit=0)),
                                   strokeDash=dash)
        title_y = f"{value} (mean over replicates)"
        line = base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title=title_y), opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
            tooltip=["group_label", "split", "epoch", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("lo:Q", format=".4f"),
                     alt.Tooltip("hi:Q", format=".4f"), alt.Tooltip("count:Q", title="replicates")])
        area = base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title=title_y), y2="hi:Q",
                                                   opacity=alt.condition(sel, alt.value(0.18), alt.value(0.03)))
        return (area + line).add_params(sel).properties(
            title=f"{value} per epoch; band: mean ± {band_kind} over the replicates of each condition", height=320)
    sel = alt.selection_point(fields=["run"], bind="legend")
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("epoch:Q"), y=alt.Y(f"{value}:Q", title=value),
        color=alt.Color("run:N", title="run", legend=alt.Legend(labelLimit=0)), strokeDash=dash,
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        tooltip=["run", "status", "split", "epoch", alt.Tooltip(f"{value}:Q", format=".4f")])
    return chart.add_params(sel).properties(title=f"{value} per epoch, one line a run", height=320)


def gap_chart(gap: pd.DataFrame) -> alt.Chart:
    sel = alt.selection_point(fields=["run"], bind="legend")
    return alt.Chart(gap).mark_line(point=True).encode(
        x="epoch:Q", y=alt.Y("gap:Q", title="train acc − test acc"),
        color=alt.Color("run:N", legend=alt.Legend(labelLimit=0)),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        tooltip=["run", "epoch", alt.Tooltip("gap:Q", format=".4f")],
    ).add_params(sel).properties(title="generalisation gap (clean train accuracy − test accuracy)", height=260)


def gradient_chart(grad: pd.DataFrame, stat_label: str = "mean |grad|", smooth: int = 1) -> alt.Chart:
    """Log-scale per-step curves: the window mean as a line, the window min..max as a band."""
    wide = grad.pivot_table(index=["run", "stage", "step", "epoch"], columns="stat", values="value").reset_index()
    wide["series"] = wide["run"] + " · " + wide["stage"]
    sel = alt.selection_point(fields=["series"], bind="legend")
    base = alt.Chart(wide).encode(x=alt.X("epoch:Q", title="epoch (steps / steps per epoch)"),
                                  color=alt.Color("series:N", title="run · stage", legend=alt.Legend(labelLimit=0)))
    line = base.mark_line(strokeWidth=1.2).encode(
        y=alt.Y("mean:Q", scale=alt.Scale(type="log"), title=stat_label + " (log scale)"),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.1)),
        tooltip=["run", "stage", "step", alt.Tooltip("mean:Q", format=".3e"), alt.Tooltip("min:Q", format=".3e"),
                 alt.Tooltip("max:Q", format=".3e")])
    area = base.mark_area(opacity=0.15).encode(y=alt.Y("min:Q", title=stat_label + " (log scale)"), y2="max:Q")
    note = f"smoothed: moving average of {smooth} steps; " if smooth > 1 else "raw per-step values; "
    return (area + line).add_params(sel).properties(
        title=f"{stat_label} per step — {note}band = min..max of each display window", height=360)


def degradation_chart(table: pd.DataFrame, band_kind: str = "95% CI", value: str = "test_error") -> alt.Chart:
    """Error vs depth, one line a series (plain / residual × BN, and whatever else differs), He et al. beside.

    Each point averages the replicates of one condition (the series at that depth).
    """
    what = value.replace("_", " ")
    ours = table[table["family"] == "cifar"]
    layers = []
    if not ours.empty:
        g = band(ours, ["series", "net", "depth"], value, band_kind, clip=(0.0, 100.0))
        base = alt.Chart(g).encode(x=alt.X("depth:Q", title="depth (layers)", scale=alt.Scale(type="log", base=2)),
                                   color=alt.Color("net:N", title="net", legend=alt.Legend(labelLimit=0)))
        layers += [base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title=f"{what} (%)"),
            tooltip=["net", "depth", alt.Tooltip("mean:Q", format=".2f", title=f"mean {what} %"),
                     alt.Tooltip("count:Q", title="replicates"), alt.Tooltip("lo:Q", format=".2f"),
                     alt.Tooltip("hi:Q", format=".2f")]),
            base.mark_errorbar().encode(y=alt.Y("lo:Q", title=f"{what} (%)"), y2="hi:Q")]
    if value == "test_error":
        ref = reference_table()
        layers.append(alt.Chart(ref).mark_line(strokeDash=[4, 3], point=alt.OverlayMarkDef(shape="diamond", size=60)).encode(
            x="depth:Q", y="test_error:Q", shape=alt.Shape("net:N", title="reference", legend=alt.Legend(labelLimit=0)),
            color=alt.value("black"), tooltip=["net", "depth", "test_error"]))
    return alt.layer(*layers).properties(
        title=f"CIFAR-10 {what} vs depth (lines: mean over replicates, bars: {band_kind})", height=340)


def separability_chart(table: pd.DataFrame, band_kind: str | None = None) -> alt.Chart:
    """Metric vs stage, one panel a metric; with ``band_kind`` the replicates of a condition are averaged."""
    df = table.copy()
    if band_kind:
        complete = df["status"].isin(["finished", "imported"])
        df["group"] = np.where(complete, df["condition"], df["run_id"])
        df["group_label"] = np.where(complete, df["condition_label"], df["label"])
        g = band(df, ["group", "group_label", "metric", "stage"], "value", band_kind)
        base = alt.Chart(g).encode(x=alt.X("stage:N"),
                                   color=alt.Color("group_label:N", title="condition", legend=alt.Legend(labelLimit=0)))
        line = base.mark_line(point=True).encode(y=alt.Y("mean:Q", title="value"),
                                                 tooltip=["group_label", "stage", alt.Tooltip("mean:Q", format=".4f"),
                                                          alt.Tooltip("count:Q", title="replicates")])
        bars = base.mark_errorbar().encode(y=alt.Y("lo:Q", title="value"), y2="hi:Q")
        layer = alt.layer(bars, line, data=g).properties(width=260, height=220)
        return layer.facet(facet=alt.Facet("metric:N"), columns=3).resolve_scale(y="independent").properties(
            title=f"separability per stage (mean over replicates ± {band_kind})")
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("stage:N"), y=alt.Y("value:Q"), color=alt.Color("label:N", title="run", legend=alt.Legend(labelLimit=0)),
        tooltip=["label", "stage", "metric", alt.Tooltip("value:Q", format=".4f"), "dims", "n"],
    ).properties(width=260, height=220).facet(facet=alt.Facet("metric:N"), columns=3).resolve_scale(y="independent")


def scatter_chart(points: pd.DataFrame, title: str) -> alt.Chart:
    return alt.Chart(points).mark_circle(size=28, opacity=0.75).encode(
        x=alt.X("c1:Q", title="component 1"), y=alt.Y("c2:Q", title="component 2"), color=alt.Color("class:N"),
        tooltip=["class", alt.Tooltip("c1:Q", format=".3f"), alt.Tooltip("c2:Q", format=".3f")],
    ).properties(title=title, height=380)


def cka_heatmap(table: pd.DataFrame, title: str) -> alt.Chart:
    """A square matrix of linear CKA values (columns a, b, cka) as a labelled heat map."""
    base = alt.Chart(table).encode(x=alt.X("a:N", title=None, sort=None), y=alt.Y("b:N", title=None, sort=None))
    heat = base.mark_rect().encode(color=alt.Color("cka:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="CKA"),
                                   tooltip=["a", "b", alt.Tooltip("cka:Q", format=".3f")])
    text = base.mark_text(fontSize=11).encode(text=alt.Text("cka:Q", format=".2f"),
                                              color=alt.condition("datum.cka > 0.6", alt.value("white"), alt.value("black")))
    return (heat + text).properties(title=title, width=320, height=320)
