"""Charts of the fair BatchNorm study (explorer.verdict.fair_batchnorm): the learning-rate sweep (final
validation error against the rate, a line a net) and the comparison at the chosen rates (test error of
each seed, the mean and its 95% t CI a net).

Colour is the net's variant with the app's one colour map: BN is FULL's hue, no BN Nbn's, SkipInit and
Fixup their own.
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from .common import color_map

VARIANTS = {"BN": "FULL", "no BN": "Nbn", "no BN + SkipInit": "Nbn+SkipInit", "no BN + Fixup": "Nbn+Fixup"}


def _scale() -> alt.Scale:
    colors = color_map(VARIANTS)
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def _color(title: str | None = None) -> alt.Color:
    """The net's colour; its legend with ``title``, none without."""
    if title is None:
        return alt.Color("net:N", legend=None, scale=_scale())
    return alt.Color("net:N", title=title, sort=list(VARIANTS), scale=_scale())


def sweep_chart(sweep: pd.DataFrame) -> alt.LayerChart:
    """Final validation error % against the learning rate (log axis), one line a net; a diverged run is left
    out of the line (the text names it)."""
    d = sweep[[math.isfinite(v) for v in sweep["val error %"]]] if len(sweep) else sweep
    epochs = int(sweep["epochs"].iloc[0]) if len(sweep) else 0
    base = alt.Chart(d).encode(
        x=alt.X("lr:Q", title="learning rate", scale=alt.Scale(type="log"),
                axis=alt.Axis(values=sorted(set(sweep["lr"])) if len(sweep) else alt.Undefined, format="g")),
        y=alt.Y("val error %:Q", title="final validation error %", scale=alt.Scale(zero=False)),
        color=_color("net"), tooltip=["net", "lr", alt.Tooltip("val error %:Q", format=".2f"), "run"])
    return (base.mark_line() + base.mark_point(filled=True, size=60)).properties(
        title=f"Learning-rate sweep ({epochs} epochs, validation split)", width=300, height=240)


def comparison_chart(results: pd.DataFrame, seeds: pd.DataFrame) -> alt.LayerChart:
    """Test error % a net at its chosen rate: each seed a hollow dot, the mean a bar's tick with its 95% t CI.

    ``results``: :func:`explorer.verdict.fair_batchnorm.table`; ``seeds``: :func:`...seed_errors`.
    """
    order = [n for n in VARIANTS if n in set(results["net"])]
    x = alt.X("net:N", title=None, sort=order, axis=alt.Axis(labelAngle=0, labelLimit=160))
    ci = results.dropna(subset=["95% CI low", "95% CI high"])
    bars = alt.Chart(ci).mark_errorbar(ticks=alt.TickConfig(size=14), thickness=2).encode(
        x=x, y=alt.Y("95% CI low:Q", title="test error % (chosen lr, full budget)", scale=alt.Scale(zero=False)),
        y2="95% CI high:Q", color=_color())
    mean = alt.Chart(results).mark_point(shape="diamond", filled=True, size=110).encode(
        x=x, y="test error % (mean):Q", color=_color(),
        tooltip=["net", "chosen lr", "n", alt.Tooltip("test error % (mean):Q", format=".2f"),
                 alt.Tooltip("95% CI low:Q", format=".2f"), alt.Tooltip("95% CI high:Q", format=".2f")])
    dots = alt.Chart(seeds).mark_point(size=40, opacity=0.8).encode(
        x=x, y="test error %:Q", color=_color(),
        tooltip=["net", "seed", alt.Tooltip("test error %:Q", format=".2f"), "run"])
    return (bars + mean + dots).properties(title="Test error at the chosen rates (mean, 95% t CI, each seed)",
                                           width=340, height=240)


def study_chart(sweep: pd.DataFrame, results: pd.DataFrame, seeds: pd.DataFrame) -> alt.HConcatChart:
    """The sweep (with the colour legend) beside the comparison (its axis names the nets)."""
    return alt.hconcat(sweep_chart(sweep), comparison_chart(results, seeds)).resolve_scale(color="independent")
