"""Charts of the initialisation sweep (explorer.verdict.init_summary): a measure against depth, mean and
95% band over the initialisations of each net, and Var(branch) / Var(block input) block by block.

Colour is the net's variant with the app's one colour map (residual + BN is FULL's hue, plain + BN
Nres's, residual without BN Nbn's, plain without BN Nboth's). A positive measure whose values span more
than a decade is drawn on a log axis, with the geometric mean and its interval.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .common import color_map

NETS = {(True, True): ("residual + BN", "FULL"), (False, True): ("plain + BN", "Nres"),
        (True, False): ("residual, no BN", "Nbn"), (False, False): ("plain, no BN", "Nboth")}
MEASURE_TITLES = {
    "grad_ratio": "‖∂loss/∂h‖ first block / last block (> 1: grows towards the input)",
    "stable_rank": "stable rank (centred) of the last block's output",
    "lag1": "lag-1 correlation of input gradients along a line",
    "corr_length": "correlation length of input gradients (fraction of a line)",
    "branch_var_ratio_mean": "Var(branch) / Var(block input), mean over residual blocks",
    "loss": "loss at initialisation (nats)",
}


SHORT = {"grad_ratio": "gradient ratio, first / last block", "stable_rank": "stable rank (centred)",
         "lag1": "lag-1 correlation", "corr_length": "correlation length", "branch_var_ratio_mean":
         "Var(branch) / Var(input)", "loss": "loss (nats)"}  # axis titles; the chart's title says it in full


def net_name(residual: bool, batchnorm: bool) -> str:
    return NETS[(bool(residual), bool(batchnorm))][0]


def net_colors() -> dict[str, str]:
    return color_map({name: variant for name, variant in NETS.values()})


def _named(summary: pd.DataFrame) -> pd.DataFrame:
    d = summary.copy()
    d["net"] = [net_name(r, b) for r, b in zip(d["residual"], d["batchnorm"])]
    return d


def log_axis(values) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(len(v)) and bool((v > 0).all()) and v.max() / v.min() > 10


def sweep_chart(summary: pd.DataFrame, measure: str) -> alt.Chart:
    """``measure`` against depth: the centre (mean, or geometric mean on the log scale) and its 95% band, a line a net."""
    d = _named(summary[summary["measure"] == measure]).dropna(subset=["centre"])
    log = log_axis(d[["centre", "ci_low", "ci_high"]].to_numpy().ravel())
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    colors = net_colors()
    cscale = alt.Scale(domain=list(colors), range=list(colors.values()))
    color = alt.Color("net:N", title="net (20 initialisations a depth)", scale=cscale,
                      legend=alt.Legend(orient="right", labelLimit=0, symbolOpacity=1))
    x = alt.X("depth:Q", title="depth (layers)", scale=alt.Scale(type="log", domain=[7, 120]),
              axis=alt.Axis(values=sorted(d["depth"].unique().tolist()), format="d"))
    title = SHORT.get(measure, measure) + (" (log axis)" if log else "")
    band = alt.Chart(d).mark_area(opacity=0.2).encode(x=x, y=alt.Y("ci_low:Q", scale=scale, title=title),
                                                       y2="ci_high:Q", color=color)
    line = alt.Chart(d).mark_line(point=True).encode(
        x=x, y=alt.Y("centre:Q", scale=scale, title=title), color=color,
        tooltip=["net", "depth", "n", alt.Tooltip("centre:Q", format=".4g", title="mean (geometric if log scale)"),
                 alt.Tooltip("ci_low:Q", format=".4g", title="95% CI low"),
                 alt.Tooltip("ci_high:Q", format=".4g", title="95% CI high")])
    layers = [band, line]
    if measure == "grad_ratio":  # the line between vanishing and exploding
        layers.append(alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], color="black").encode(y="y:Q"))
    return alt.layer(*layers).properties(height=360, title=MEASURE_TITLES.get(measure, measure))


def branch_chart(summary_blocks: pd.DataFrame, depth: int) -> alt.Chart:
    """Var(branch) / Var(block input) block by block at one depth, residual nets with and without BN, with De &
    Smith's 1 / (block index + 1) dashed for reference (log axis)."""
    d = summary_blocks[(summary_blocks["measure"] == "branch_var_ratio") & (summary_blocks["depth"] == depth)
                       & (summary_blocks["block"] >= 0)]
    d = _named(d).dropna(subset=["centre"])
    d = d[d["centre"] > 0]
    colors = {k: v for k, v in net_colors().items() if k in set(d["net"])}
    ref = pd.DataFrame({"block": sorted(d["block"].unique())})
    ref["centre"] = 1.0 / (ref["block"] + 1)
    ref["net"] = "1 / (block + 1) (De & Smith)"
    colors[ref["net"].iloc[0]] = "#000000"
    cscale = alt.Scale(domain=list(colors), range=list(colors.values()))
    color = alt.Color("net:N", title=None, scale=cscale,
                      legend=alt.Legend(orient="right", labelLimit=0, symbolOpacity=1))
    y = alt.Y("centre:Q", title="Var(branch) / Var(input) (geo. mean, log axis)", scale=alt.Scale(type="log"))
    x = alt.X("block:Q", title="residual block (0 = first)")
    band = alt.Chart(d).mark_area(opacity=0.2).encode(x=x, y=alt.Y("ci_low:Q", scale=alt.Scale(type="log")),
                                                       y2="ci_high:Q", color=color)
    line = alt.Chart(d).mark_line().encode(x=x, y=y, color=color, tooltip=["net", "block", "n",
                                                                             alt.Tooltip("centre:Q", format=".3g")])
    dashed = alt.Chart(ref).mark_line(strokeDash=[4, 4]).encode(x=x, y=y, color=color)
    return alt.layer(band, line, dashed).properties(height=340)
