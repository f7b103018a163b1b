"""Charts of the loss-landscape and shattered-gradient tables (explorer.studies.catalog).

Altair for the 1-D slices, the gradient correlation curves and the report's 2-D map; Plotly for
the app's interactive contour and 3-D surface of a 2-D slice. Colour is the condition (the app's
one colour map), one line a run.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .common import color_encoding

VIEW_TITLES = {"line": "from the initial weights (0) to the trained ones (1)",
               "1d": "along a filter-normalised random direction (0 = trained)"}


def _finite(df: pd.DataFrame) -> pd.DataFrame:
    return df.replace([np.inf, -np.inf], np.nan)


def landscape_line_chart(df: pd.DataFrame, view: str, value: str = "loss", colors: dict | None = None) -> alt.Chart:
    """Loss (log axis) or accuracy along the init-to-trained line or a 1-D random slice, one line a run."""
    d = _finite(df[(df["view"] == view)]).dropna(subset=[value])
    d = d[d[value] > 0] if value == "loss" else d
    y = (alt.Y("loss:Q", title="loss (nats, log axis)", scale=alt.Scale(type="log")) if value == "loss"
         else alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])))
    return alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("a:Q", title="step" if view == "1d" else "α (0 = initial weights, 1 = trained)"), y=y,
        detail="label:N", color=color_encoding("condition_label:N", "condition (one line a run)", colors),
        tooltip=["label", "a", alt.Tooltip("loss:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")],
    ).properties(height=280)


def landscape_map(df: pd.DataFrame, title: str = "") -> alt.Chart:
    """A 2-D slice of one run as a map of log10(loss) (the static contour view, for the report)."""
    d = _finite(df[df["view"] == "2d"]).dropna(subset=["loss"])
    d = d.assign(log_loss=np.log10(d["loss"].clip(lower=1e-6)))
    return alt.Chart(d).mark_rect().encode(
        x=alt.X("a:O", title="direction 1", axis=alt.Axis(format=".1f")),
        y=alt.Y("b:O", title="direction 2", sort="descending", axis=alt.Axis(format=".1f")),
        color=alt.Color("log_loss:Q", title="log10 loss", scale=alt.Scale(scheme="viridis", domain=[-1, 2], clamp=True)),
        tooltip=["a", "b", alt.Tooltip("loss:Q", format=".3f")],
    ).properties(title=title, width=220, height=220)


def _grid(df: pd.DataFrame):
    d = df[df["view"] == "2d"].pivot_table(index="b", columns="a", values="loss").sort_index().sort_index(axis=1)
    return d.columns.to_numpy(float), d.index.to_numpy(float), np.log10(np.clip(d.to_numpy(float), 1e-6, None))


def landscape_contour(df: pd.DataFrame, title: str):
    """Plotly contour of log10(loss) over a 2-D slice of one run (the trained weights at the centre)."""
    import plotly.graph_objects as go
    a, b, z = _grid(df)
    fig = go.Figure(go.Contour(x=a, y=b, z=z, colorscale="Viridis", zmin=-1, zmax=2, ncontours=24,
                               colorbar=dict(title="log10 loss")))
    fig.update_layout(title=title, xaxis_title="direction 1", yaxis_title="direction 2", height=420,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def landscape_surface(df: pd.DataFrame, title: str):
    """Plotly 3-D surface of log10(loss) over a 2-D slice of one run."""
    import plotly.graph_objects as go
    a, b, z = _grid(df)
    fig = go.Figure(go.Surface(x=a, y=b, z=z, colorscale="Viridis", cmin=-1, cmax=2,
                               colorbar=dict(title="log10 loss")))
    fig.update_layout(title=title, height=480, margin=dict(l=10, r=10, t=40, b=10),
                      scene=dict(xaxis_title="direction 1", yaxis_title="direction 2", zaxis_title="log10 loss"))
    return fig


def shatter_chart(df: pd.DataFrame, colors: dict | None = None) -> alt.Chart:
    """Mean gradient correlation against the distance along the line, one line a run; dotted: 1/e."""
    d = _finite(df).dropna(subset=["correlation"])
    line = alt.Chart(d).mark_line().encode(
        x=alt.X("distance:Q", title="distance along the line (fraction of the way between two probe images)"),
        y=alt.Y("correlation:Q", title="correlation of input gradients", scale=alt.Scale(domain=[-0.2, 1])),
        detail="label:N", color=color_encoding("condition_label:N", "condition (one line a run)", colors),
        tooltip=["label", alt.Tooltip("distance:Q", format=".3f"), alt.Tooltip("correlation:Q", format=".3f"),
                 alt.Tooltip("length:Q", format=".3f", title="correlation length")])
    e = alt.Chart(pd.DataFrame({"y": [float(np.exp(-1))]})).mark_rule(color="gray", strokeDash=[2, 2]).encode(y="y:Q")
    return (line + e).properties(height=300)


def curvature_chart(df: pd.DataFrame, colors: dict | None = None) -> alt.Chart:
    """The Hessian's top eigenvalue and trace (log axes), one point a run, a column a condition."""
    d = _finite(df)
    panels = []
    for field, title in (("lambda_max", "λmax (top Hessian eigenvalue, log axis)"),
                         ("trace", "trace (Hutchinson, log axis)")):
        p = d[d[field] > 0] if field in d.columns else d.iloc[:0]
        panels.append(alt.Chart(p).mark_point(filled=True, size=80).encode(
            x=alt.X("condition_label:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=220)),
            y=alt.Y(f"{field}:Q", title=title, scale=alt.Scale(type="log")),
            color=color_encoding("condition_label:N", "condition (one point a run)", colors),
            tooltip=["label", alt.Tooltip(f"{field}:Q", format=".4g"), "images_from"]).properties(width=280, height=260))
    return alt.hconcat(*panels)
