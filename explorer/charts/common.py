"""Altair chart builders: a tidy table (explorer.analysis.run_tables) in, an alt.Chart out.

Colour and legend entries are per condition when replicates are aggregated (``group_label``)
and per run otherwise (``run``, unique among the runs shown). Nothing here imports Streamlit;
the app and the report both use these.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from ..analysis.run_tables import band, reference_table

alt.data_transformers.disable_max_rows()  # tables here are downsampled for display, a few 10k rows at most

# One colour per condition everywhere: a hue per variant (seed 001's names), the same on every page and in
# the report; conditions of one variant (another lr, data set, depth) get shades of its hue.
VARIANT_COLORS = {"FULL": "#1f77b4", "Nres": "#ff7f0e", "Nbn": "#2ca02c", "Nboth": "#d62728", "Nbn+SkipInit": "#9467bd",
                  "Nbn+Fixup": "#8c564b", "Nbn+Fixup (simplified)": "#e377c2"}
OTHER = ["#7f7f7f", "#bcbd22", "#17becf"]  # a variant without a hue of its own
SHADES = [0.0, 0.22, -0.14, 0.34, -0.24, 0.12, -0.07, 0.42]  # lightness steps: the base first, then alternately


def _shade(color: str, step: float) -> str:
    import colorsys
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, light, sat = colorsys.rgb_to_hls(r, g, b)
    r, g, b = colorsys.hls_to_rgb(h, min(0.88, max(0.12, light + step)), sat)
    return "#" + "".join(f"{round(v * 255):02x}" for v in (r, g, b))


def color_map(variant_of: dict[str, str]) -> dict[str, str]:
    """Label -> colour, from ``variant_of`` (label -> its model's variant, "FULL", "Nres", ...).

    Each variant has one hue (:data:`VARIANT_COLORS`); its first label, in the order given, takes the
    hue itself, the next ones lighter and darker shades of it. Callers give the labels with the most runs
    first (the main experiment), so a condition keeps its colour from page to page.
    """
    out, used = {}, {}
    for label, variant in variant_of.items():
        if variant not in VARIANT_COLORS:
            variant = OTHER[sum(map(ord, variant)) % len(OTHER)]
        i = used[variant] = used.get(variant, -1) + 1
        base = VARIANT_COLORS.get(variant, variant)
        out[label] = _shade(base, SHADES[i % len(SHADES)]) if i else base
    return out


def color_encoding(field: str, title: str, colors: dict[str, str] | None, legend: bool = True,
                   below: bool = False, present=None) -> alt.Color:
    """The condition colour; its legend in full (never cut), to the right or, with ``below``, beneath in two columns.

    ``present``: the labels the chart draws; the legend then lists exactly those (a condition with nothing
    drawn, a run that diverged before its first epoch, gets no entry of its own).
    """
    if colors and present is not None:
        keep = set(present)
        colors = {k: v for k, v in colors.items() if k in keep} or None
    scale = alt.Scale(domain=list(colors), range=list(colors.values())) if colors else alt.Undefined
    place = {"orient": "bottom", "columns": 2} if below else {}
    return alt.Color(field, title=title, scale=scale,
                     legend=alt.Legend(labelLimit=0, symbolLimit=0, symbolOpacity=1, symbolType="stroke",
                                       symbolStrokeWidth=3, **place) if legend else None)


# --------------------------------------------------------------------------- charts
def epoch_x(title: str = "epoch") -> alt.X:
    """Epochs on x: from epoch 1, whole-number ticks only (a 2-epoch run gets ticks 1 and 2, not 1.05, 1.10)."""
    return alt.X("epoch:Q", title=title, scale=alt.Scale(domainMin=1, nice=False),
                 axis=alt.Axis(tickMinStep=1, format="d"))


def _whole(df: pd.DataFrame) -> list:
    """The tooltip line with the whole condition in words, where the table has it (labels name only what differs)."""
    return [alt.Tooltip("condition_text:N", title="condition")] if "condition_text" in df else []


def elapsed_x(title: str = "epochs elapsed") -> alt.X:
    """Training progress on x (per-step values): 0 to the last epoch, whole-number ticks only."""
    return alt.X("epoch:Q", title=title, scale=alt.Scale(domainMin=0, nice=False), axis=alt.Axis(tickMinStep=1, format="d"))


def curves_chart(hist: pd.DataFrame, value: str = "accuracy", band_kind: str | None = None,
                 splits: tuple[str, ...] = ("train", "test"), colors: dict[str, str] | None = None) -> alt.Chart:
    """Per-epoch curves; with ``band_kind`` the replicates of a condition become a mean line and a band."""
    df = hist[hist["split"].isin(splits)].dropna(subset=[value])
    if value == "accuracy":  # in % like every other page (the table keeps the fraction)
        df = df.assign(accuracy=100 * df["accuracy"])
    clip = (0.0, 100.0) if value == "accuracy" else (0.0, float("inf"))
    what = "accuracy (%)" if value == "accuracy" else value
    dash = alt.StrokeDash("split:N", title="split (dashed: train)", sort=list(splits),
                          scale=alt.Scale(domain=list(splits), range=[[5, 3], [1, 0], [2, 2]][:len(splits)]))
    if band_kind:
        g = band(df, ["group", "group_label", "condition_label", "split", "epoch"], value, band_kind, clip=clip)
        sel = alt.selection_point(fields=["condition_label"], bind="legend")
        base = alt.Chart(g).encode(x=epoch_x(), detail="group:N", strokeDash=dash,
                                   color=color_encoding("condition_label:N", "condition", colors,
                                                        present=g["condition_label"].unique()))
        title_y = f"{what}, mean over replicates"
        line = base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title=title_y), opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
            tooltip=["group_label", "split", "epoch", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("lo:Q", format=".4f"),
                     alt.Tooltip("hi:Q", format=".4f"), alt.Tooltip("count:Q", title="replicates")])
        area = base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title=title_y), y2="hi:Q",
                                                   opacity=alt.condition(sel, alt.value(0.18), alt.value(0.03)))
        return (area + line).add_params(sel).properties(
            title=f"{what} per epoch; band: mean ± {band_kind} over the replicates of each condition", height=320)
    sel = alt.selection_point(fields=["condition_label"], bind="legend")
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=epoch_x(), y=alt.Y(f"{value}:Q", title=what), detail="run:N",
        color=color_encoding("condition_label:N", "condition (one line a run)", colors,
                             present=df["condition_label"].unique()), strokeDash=dash,
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        tooltip=["run", "status", "split", "epoch", alt.Tooltip(f"{value}:Q", format=".4f"), *_whole(df)])
    return chart.add_params(sel).properties(title=f"{what} per epoch, one line a run (hover for its seed and status)",
                                            height=320)


def gap_chart(gap: pd.DataFrame, colors: dict[str, str] | None = None) -> alt.Chart:
    sel = alt.selection_point(fields=["condition_label"], bind="legend")
    gap = gap.assign(gap=100 * gap["gap"])  # percentage points, like the accuracies
    return alt.Chart(gap).mark_line(point=True).encode(
        x=epoch_x(), y=alt.Y("gap:Q", title="train − test accuracy (points)"), detail="run:N",
        color=color_encoding("condition_label:N", "condition (one line a run)", colors,
                             present=gap["condition_label"].dropna().unique()),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        tooltip=["run", "epoch", alt.Tooltip("gap:Q", format=".2f"), *_whole(gap)],
    ).add_params(sel).properties(title="generalisation gap (clean train accuracy − test accuracy)", height=260)


STAGE_COLORS = {"stage0": "#1f77b4", "stage1": "#2ca02c", "stage2": "#ff7f0e", "stage3": "#d62728", "stage4": "#9467bd",
                "head": "#7f7f7f"}


def gradient_panels(table: pd.DataFrame, stat_label: str, note: str, aggregated: bool) -> alt.Chart:
    """Small multiples: a panel a condition (or a run), stage as colour (the same in every panel), log scale.

    ``table``: `gradient_summary` rows (median, lo, hi) when ``aggregated``, else `gradient_table` rows.
    """
    present = [s for s in STAGE_COLORS if s in set(table["stage"])]
    stage_color = alt.Color("stage:N", title="stage", scale=alt.Scale(domain=present, range=[STAGE_COLORS[s] for s in present]),
                            legend=alt.Legend(symbolOpacity=1, symbolType="stroke", symbolStrokeWidth=3))
    y_title = f"{stat_label} (log scale)"
    if aggregated:
        df, panel, line_y, lo, hi = table, "group_label", "median", "lo", "hi"
        band_note = "line: median over the replicates' window means; band: their min..max"
    else:
        df = table.pivot_table(index=["run", "stage", "step", "epoch"], columns="stat", values="value").reset_index()
        panel, line_y, lo, hi = "run", "mean", "min", "max"
        band_note = "line: window mean; band: window min..max"
    base = alt.Chart(df).encode(x=elapsed_x(), color=stage_color)
    area = base.mark_area(opacity=0.2).encode(y=alt.Y(f"{lo}:Q", scale=alt.Scale(type="log"), title=y_title), y2=f"{hi}:Q")
    line = base.mark_line(strokeWidth=1.3).encode(
        y=alt.Y(f"{line_y}:Q", scale=alt.Scale(type="log"), title=y_title),
        tooltip=[panel, "stage", "step", alt.Tooltip(f"{line_y}:Q", format=".3e")])
    return (area + line).properties(width=330, height=200).facet(
        facet=alt.Facet(f"{panel}:N", title=None, header=alt.Header(labelLimit=0, labelFontSize=12)), columns=2
    ).properties(title=f"{stat_label} per step, {note}; {band_note}")


def ratio_chart(ratios: pd.DataFrame, colors: dict[str, str] | None = None) -> alt.Chart:
    """stage0 / last-stage ratio over training, a line a condition (median over replicates)."""
    g = ratios.groupby(["group", "group_label", "condition_label", "epoch"])["ratio"].median().reset_index()
    line = alt.Chart(g).mark_line().encode(
        x=elapsed_x(), detail="group:N",
        y=alt.Y("ratio:Q", scale=alt.Scale(type="log"), title="stage0 / last stage (log scale)"),
        color=color_encoding("condition_label:N", "condition", colors, present=g["condition_label"].unique()),
        tooltip=["group_label", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("ratio:Q", format=".3e")])
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 3], color="gray").encode(y="y:Q")
    return (line + one).properties(height=260)  # titled by the page (a title inside a column chart is clipped)


def late_ratio_chart(late: pd.DataFrame, colors: dict[str, str] | None = None) -> alt.Chart:
    """Late-training stage0 / last-stage ratio against depth, a line a series, each point a condition's median.

    ``colors`` (condition label -> colour, the page's map): a series takes the colour of its first
    condition, so that the same condition has the same colour here as in every other chart.
    """
    g = late.groupby(["net", "depth"])["ratio"].agg(median="median", lo="min", hi="max", runs="count").reset_index()
    series = None
    if colors:
        first = late.drop_duplicates("net").set_index("net")["condition_label"]
        series = {net: colors[c] for net, c in first.items() if c in colors}
    base = alt.Chart(g).encode(x=alt.X("depth:Q", scale=alt.Scale(type="log", base=2), title="depth (layers)"),
                               color=color_encoding("net:N", "net", series))
    y_title = "stage0 / last stage (log)"
    y = alt.Y("median:Q", scale=alt.Scale(type="log"), title=y_title)
    return (base.mark_line(point=True).encode(y=y, tooltip=["net", "depth", alt.Tooltip("median:Q", format=".3e"),
                                                             alt.Tooltip("runs:Q", title="replicates")])
            + base.mark_errorbar().encode(y=alt.Y("lo:Q", scale=alt.Scale(type="log"), title=y_title), y2="hi:Q")
            ).properties(height=260)


def degradation_chart(table: pd.DataFrame, band_kind: str = "95% CI", value: str = "test_error",
                      colors: dict[str, str] | None = None) -> alt.Chart:
    """Error vs depth, one line a series (plain / residual × BN, and whatever else differs), He et al. beside.

    Each point averages the replicates of one condition (the series at that depth). ``colors``: series
    label -> colour (:func:`color_map`, the same hues as every other page). The legend sits beneath the
    chart, every series in it; He et al.'s numbers are a dashed black line, labelled at its end.
    """
    what = value.replace("_", " ")
    ours = table[table["family"] == "cifar"]
    layers = []
    if not ours.empty:
        g = band(ours, ["series", "net", "depth"], value, band_kind, clip=(0.0, 100.0))
        color = color_encoding("net:N", "net", colors, below=True, present=g["net"].unique())
        base = alt.Chart(g).encode(x=alt.X("depth:Q", title="depth (layers)", scale=alt.Scale(type="log", base=2)),
                                   color=color)
        layers += [base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title=f"{what} (%)"),
            tooltip=["net", "depth", alt.Tooltip("mean:Q", format=".2f", title=f"mean {what} %"),
                     alt.Tooltip("count:Q", title="replicates"), alt.Tooltip("lo:Q", format=".2f"),
                     alt.Tooltip("hi:Q", format=".2f")]),
            base.mark_errorbar().encode(y=alt.Y("lo:Q", title=f"{what} (%)"), y2="hi:Q")]
    if value == "test_error":
        ref = reference_table().rename(columns={"net": "reference"})
        dash = alt.StrokeDash("reference:N", title="reference", scale=alt.Scale(range=[[6, 4]]),
                              legend=alt.Legend(labelLimit=0, orient="bottom", symbolType="stroke", symbolStrokeWidth=2,
                                                symbolStrokeColor="black", symbolSize=300))
        line = alt.Chart(ref).encode(x="depth:Q", y="test_error:Q", tooltip=["reference", "depth", "test_error"])
        layers += [line.mark_line(color="black").encode(strokeDash=dash),
                   line.mark_point(shape="diamond", size=60, color="black", filled=True)]
        end = ref[ref["depth"] == ref["depth"].max()].assign(text="He et al. 2016")
        layers.append(alt.Chart(end).mark_text(align="left", dx=8, dy=-8, fontSize=11, color="black").encode(
            x="depth:Q", y="test_error:Q", text="text:N"))
    # the height includes the legend beneath (two entries a row) when Streamlit fits the chart to its width
    rows = (ours["net"].nunique() + 1) // 2 + (value == "test_error")
    return alt.layer(*layers).properties(title=f"{what} vs depth (lines: mean over replicates, bars: {band_kind})",
                                         height=300 + 22 * rows)


# axis title (with unit) and range of each separability metric; bands are clipped to the range
METRIC_AXES = {
    "fisher_trace_ratio": ("tr(S_B) / tr(S_W) (ratio)", (0.0, float("inf"))),
    "fisher_criterion": ("tr(S_W⁻¹ S_B), PCA + shrinkage (ratio)", (0.0, float("inf"))),
    "lda_accuracy": ("LDA accuracy (5-fold CV, fraction)", (0.0, 1.0)),
    "linear_probe_accuracy": ("linear probe accuracy (5-fold CV, fraction)", (0.0, 1.0)),
    "knn_accuracy": ("kNN accuracy (5-fold CV, fraction)", (0.0, 1.0)),
    "mi_probe_bits": ("usable information (bits, a lower bound)", (0.0, float("inf"))),
    "mi_knn_bits": ("kNN estimate of I(Z;Y) (bits)", (0.0, float("inf"))),
    "silhouette": ("silhouette (−1 … 1)", (-1.0, 1.0)),
}


def separability_chart(table: pd.DataFrame, band_kind: str | None = None,
                       colors: dict[str, str] | None = None) -> alt.Chart:
    """Metric vs stage, one panel a metric with its own axis title and unit, two panels a row; the legend
    beneath them (to their right, long condition names that differ at their ends, "lr 0.1" / "lr 0.01",
    ran past the page's edge).

    With ``band_kind`` the replicates of a condition are averaged (an unfinished run stays on its own).
    """
    df = table.copy()
    complete = df["status"].isin(["finished", "imported"])
    df["group"] = np.where(complete, df["condition"], df["run_id"])
    df["group_label"] = np.where(complete, df["condition_label"], df["label"])
    panels = []
    for metric in dict.fromkeys(df["metric"]):
        title, clip = METRIC_AXES.get(metric, (metric, None))
        sub = df[df["metric"] == metric]
        if band_kind:
            g = band(sub, ["group", "group_label", "condition_label", "stage"], "value", band_kind, clip=clip)
            base = alt.Chart(g).encode(x=alt.X("stage:N", title="stage"), detail="group:N",
                                       color=color_encoding("condition_label:N", "condition", colors, below=True))
            line = base.mark_line(point=True).encode(
                y=alt.Y("mean:Q", title=title),
                tooltip=["group_label", "stage", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("count:Q", title="replicates")])
            panel = alt.layer(base.mark_errorbar().encode(y=alt.Y("lo:Q", title=title), y2="hi:Q"), line)
        else:
            panel = alt.Chart(sub).mark_line(point=True).encode(
                x=alt.X("stage:N", title="stage"), y=alt.Y("value:Q", title=title), detail="label:N",
                color=color_encoding("condition_label:N", "condition (one line a run)", colors, below=True),
                tooltip=["label", "stage", alt.Tooltip("value:Q", format=".4f"), "dims", "n"])
        panels.append(panel.properties(title=metric, width=320, height=220))
    what = f"mean over replicates ± {band_kind}" if band_kind else "one line a run"
    return alt.concat(*panels, columns=2).properties(title=f"separability per stage ({what})")


def scatter_chart(points: pd.DataFrame, title: str) -> alt.Chart:
    return alt.Chart(points).mark_circle(size=28, opacity=0.75).encode(
        x=alt.X("c1:Q", title="component 1"), y=alt.Y("c2:Q", title="component 2"), color=alt.Color("class:N"),
        tooltip=["class", alt.Tooltip("c1:Q", format=".3f"), alt.Tooltip("c2:Q", format=".3f")],
    ).properties(title=title, height=380)


def cka_heatmap(table: pd.DataFrame, title: str) -> alt.Chart:
    """A square matrix of linear CKA values (columns a, b, cka) as a labelled heat map."""
    # every label drawn (never thinned out to every other one), a cell at least 36 px wide
    step = alt.Step(max(36, 320 // max(1, table["a"].nunique())))
    base = alt.Chart(table).encode(
        x=alt.X("a:N", title=None, sort=None, axis=alt.Axis(labelLimit=0, labelAngle=-50, labelOverlap=False)),
        y=alt.Y("b:N", title=None, sort=None, axis=alt.Axis(labelLimit=0, labelOverlap=False)))
    heat = base.mark_rect().encode(color=alt.Color("cka:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="CKA"),
                                   tooltip=["a", "b", alt.Tooltip("cka:Q", format=".3f")])
    text = base.mark_text(fontSize=11).encode(text=alt.Text("cka:Q", format=".2f"),
                                              color=alt.condition("datum.cka > 0.6", alt.value("white"), alt.value("black")))
    return (heat + text).properties(title=title, width=step, height=step)
