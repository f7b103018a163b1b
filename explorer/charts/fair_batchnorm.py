"""Charts of the fair BatchNorm study (explorer.verdict.fair_batchnorm): the learning-rate sweep (final
validation error against the rate, a line a net) and the comparison at each net's rate (test error of each
seed, the mean and its 95% t CI a net). A diverged run is marked as such (a cross at the top of the sweep, a
count over its net in the comparison), never drawn as a value.

Colour is the net's variant with the app's one colour map: BN is FULL's hue, no BN Nbn's, SkipInit and
Fixup their own; a legend lists only the nets drawn.
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from .common import color_encoding, color_map

VARIANTS = {"BN": "FULL", "no BN": "Nbn", "no BN + SkipInit": "Nbn+SkipInit", "no BN + Fixup": "Nbn+Fixup"}
TOP = alt.value(6)  # pixels from the top: where a diverged run is marked


def _color(present=None, legend: bool = True) -> alt.Color:
    return color_encoding("net:N", "net", color_map(VARIANTS), legend=legend, present=present)


def _segments(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep's finite points, a line segment id that changes across a diverged rate (so the line breaks
    there instead of joining its neighbours)."""
    rows = []
    for net, g in sweep.sort_values("lr").groupby("net", sort=False):
        seg = 0
        for r in g.to_dict("records"):
            if not math.isfinite(r["val error %"]):
                seg += 1
            else:
                rows.append({**r, "segment": f"{net} {seg}"})
    return pd.DataFrame(rows, columns=[*sweep.columns, "segment"])


def sweep_chart(sweep: pd.DataFrame, legend_nets=None) -> alt.LayerChart:
    """Final validation error % against the learning rate (log axis), one line a net; a diverged run is a cross
    at the top of the chart. The legend lists ``legend_nets`` (default: the nets swept)."""
    finite = _segments(sweep)
    diverged = sweep[[not math.isfinite(v) for v in sweep["val error %"]]]
    epochs = int(sweep["epochs"].iloc[0]) if len(sweep) else 0
    x = alt.X("lr:Q", title="learning rate", scale=alt.Scale(type="log"),
              axis=alt.Axis(values=sorted(set(sweep["lr"])), format="g"))
    color = _color(present=set(sweep["net"]) if legend_nets is None else set(legend_nets))
    tip = ["net:N", "lr:Q", alt.Tooltip("val error %:Q", format=".2f"), "run:N"]
    base = alt.Chart(finite).encode(x=x, y=alt.Y("val error %:Q", title="final validation error %",
                                                 scale=alt.Scale(zero=False)), color=color, tooltip=tip)
    layers = [base.mark_line().encode(detail="segment:N"), base.mark_point(filled=True, size=60)]
    if len(diverged):
        layers.append(alt.Chart(diverged.assign(outcome="diverged")).mark_point(shape="cross", size=90, filled=True)
                      .encode(x=x, y=TOP, color=color, tooltip=["net:N", "lr:Q", "outcome:N", "run:N"]))
    return alt.layer(*layers).properties(title=f"Learning-rate sweep ({epochs} epochs, validation split; "
                                               "a cross at the top: diverged)", width=300, height=240)


def comparison_chart(results: pd.DataFrame, seeds: pd.DataFrame) -> alt.LayerChart:
    """Test error % a net at its rate (BN at 0.1, each scheme at its sweep's choice): each seed a hollow dot,
    the mean a diamond with its 95% t CI; over a net with diverged seeds, their count.

    ``results``: :func:`explorer.verdict.fair_batchnorm.table`; ``seeds``: :func:`...seed_errors`.
    """
    order = [n for n in VARIANTS if n in set(results["net"])]
    x = alt.X("net:N", title=None, sort=order, axis=alt.Axis(labelAngle=0, labelLimit=160))
    title = "test error % (full budget)"
    y = alt.Y("test error % (mean):Q", title=title, scale=alt.Scale(zero=False))
    color = _color(legend=False)
    ci = results.dropna(subset=["95% CI low", "95% CI high"])
    layers = [
        alt.Chart(ci).mark_errorbar(ticks=alt.TickConfig(size=14), thickness=2).encode(
            x=x, y=alt.Y("95% CI low:Q", title=title), y2="95% CI high:Q", color=color),
        alt.Chart(results.dropna(subset=["test error % (mean)"])).mark_point(shape="diamond", filled=True, size=110)
        .encode(x=x, y=y, color=color, tooltip=["net:N", "lr:Q", "n:Q", alt.Tooltip("test error % (mean):Q", format=".2f"),
                                                 alt.Tooltip("95% CI low:Q", format=".2f"),
                                                 alt.Tooltip("95% CI high:Q", format=".2f")]),
        alt.Chart(seeds).mark_point(size=40, opacity=0.8).encode(
            x=x, y=alt.Y("test error %:Q", title=title), color=color,
            tooltip=["net:N", "seed:O", alt.Tooltip("test error %:Q", format=".2f"), "run:N"]),
    ]
    div = results[results["diverged"] > 0]
    if len(div):
        div = div.assign(label=[f"{k} diverged" for k in div["diverged"]])
        layers.append(alt.Chart(div).mark_text(fontSize=11, baseline="top").encode(x=x, y=TOP, text="label:N",
                                                                                   color=color))
    return alt.layer(*layers).properties(title="Test error at each net's rate (mean, 95% t CI, seeds)",
                                      width=340, height=240)


def study_chart(sweep: pd.DataFrame, results: pd.DataFrame, seeds: pd.DataFrame) -> alt.TopLevelMixin:
    """The sweep (with the colour legend of every net drawn in either part) beside the comparison (its axis names
    the nets); either alone when the other has no row."""
    drawn = set(sweep["net"]) | (set(results["net"]) if len(results) else set())  # the legend serves both parts
    charts = ([sweep_chart(sweep, drawn)] if len(sweep) else []) + ([comparison_chart(results, seeds)] if len(results) else [])
    if len(charts) == 1:
        return charts[0]
    return alt.hconcat(*charts).resolve_scale(color="independent")
