"""Altair chart builders and the tidy tables behind them: DataFrame in, alt.Chart out.

Nothing here imports Streamlit; the app and the report both use these.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .runs import Run
from .train import TrainConfig

DEFAULT_LR = TrainConfig().lr

# He et al. 2016a, Table 6 (CIFAR-10 test error, %), the residual nets with option A.
HE_2016_CIFAR10 = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}
BAND_KINDS = ("std", "95% CI")


def run_label(run: Run) -> str:
    s = run.summary()
    return f"{s['model']} ({s['variant']}) s{s['seed']}"


def group_label(run: Run) -> str:
    s = run.summary()
    return f"{s['model']} ({s['variant']})"


# --------------------------------------------------------------------------- tables
def history_table(runs: list[Run]) -> pd.DataFrame:
    """One row per (run, epoch, split) with accuracy, loss and error; long form for charts."""
    rows = []
    for run in runs:
        for h in run.history():
            for split, acc, loss in (("train", h.get("train_acc"), h.get("train_loss")),
                                     ("train (clean)", h.get("train_eval_acc"), h.get("train_eval_loss")),
                                     ("test", h.get("test_acc"), h.get("test_loss"))):
                if acc is None:
                    continue
                rows.append({"run": run_label(run), "group": group_label(run), "run_id": run.id, "seed": run.summary()["seed"],
                             "epoch": h["epoch"], "split": split, "accuracy": acc, "loss": loss})
    df = pd.DataFrame(rows, columns=["run", "group", "run_id", "seed", "epoch", "split", "accuracy", "loss"])
    df["loss"] = pd.to_numeric(df["loss"], errors="coerce")
    return df


def generalisation_gap(hist: pd.DataFrame) -> pd.DataFrame:
    """Clean train accuracy minus test accuracy per run and epoch (falls back to running train accuracy)."""
    if hist.empty:
        return pd.DataFrame(columns=["run", "group", "seed", "epoch", "gap"])
    wide = hist.pivot_table(index=["run", "group", "seed", "epoch"], columns="split", values="accuracy").reset_index()
    train_col = "train (clean)" if "train (clean)" in wide else "train"
    wide["gap"] = wide[train_col] - wide["test"]
    return wide[["run", "group", "seed", "epoch", "gap"]]


def band(df: pd.DataFrame, by: list[str], value: str, kind: str = "95% CI") -> pd.DataFrame:
    """Mean of ``value`` over seeds within ``by`` groups, with a lower/upper band.

    ``kind``: "std" (mean +- one standard deviation) or "95% CI" (mean +- t_{0.975, n-1} * s / sqrt(n)).
    With one seed the band collapses to the mean.
    """
    from scipy.stats import t as student_t

    if kind not in BAND_KINDS:
        raise ValueError(f"band kind must be one of {BAND_KINDS}, got {kind!r}.")
    g = df.groupby(by, dropna=False)[value].agg(["mean", "std", "count"]).reset_index()
    s = g["std"].fillna(0.0)
    if kind == "std":
        half = s
    else:
        tq = np.where(g["count"] > 1, student_t.ppf(0.975, np.maximum(g["count"] - 1, 1)), 0.0)
        half = tq * s / np.sqrt(g["count"])
    g["lo"], g["hi"] = g["mean"] - half, g["mean"] + half
    return g


def per_class_table(run: Run, epoch: int | None = None) -> pd.DataFrame:
    """Seed 000's Table 1: test accuracy of every class at one epoch (default: the last)."""
    hist = run.history()
    if not hist:
        return pd.DataFrame(columns=["class", "test_acc"])
    row = hist[-1] if epoch is None else next((h for h in hist if h["epoch"] == epoch), hist[-1])
    classes = run.config.get("data", {}).get("classes") or [str(i) for i in range(len(row["test_per_class"]))]
    return pd.DataFrame({"class": classes, "test_acc": row["test_per_class"]})


def gradient_table(runs: list[Run], stages: list[str] | None = None, max_points: int = 600,
                   smooth: int = 1, stat: str = "mean_abs") -> pd.DataFrame:
    """Per-step gradient statistic of each stage, downsampled for display.

    Downsampling keeps each window's min, max and mean (so spikes and dips stay visible);
    ``smooth`` > 1 applies a centred moving average of that many steps first.
    """
    rows = []
    for run in runs:
        log = run.gradlog()
        if log is None or len(log.epoch) == 0:
            continue
        arr = getattr(log, stat)
        steps_per_epoch = max(1, int(np.sum(log.epoch == log.epoch[0])))
        for j, stage in enumerate(log.groups):
            if stages and stage not in stages:
                continue
            v = arr[:, j].astype(np.float64)
            if smooth > 1:
                v = pd.Series(v).rolling(smooth, center=True, min_periods=1).mean().to_numpy()
            n = len(v)
            w = max(1, int(np.ceil(n / max_points)))
            idx = np.arange(0, n, w)
            for name, red in (("mean", np.mean), ("min", np.min), ("max", np.max)):
                vals = np.array([red(v[i:i + w]) for i in idx])
                rows.append(pd.DataFrame({"run": run_label(run), "group": group_label(run), "stage": stage, "step": idx + 1,
                                          "epoch": (idx + 1) / steps_per_epoch, "stat": name, "value": vals}))
    if not rows:
        return pd.DataFrame(columns=["run", "group", "stage", "step", "epoch", "stat", "value"])
    return pd.concat(rows, ignore_index=True)


def degradation_table(runs: list[Run]) -> pd.DataFrame:
    """Final test and train error (%) by depth and variant for the cifar family, plus He et al.'s numbers."""
    rows = []
    for run in runs:
        s = run.summary()
        if s["status"] not in ("finished", "diverged") or s["test_acc"] is None:
            continue
        train_acc = (run.config.get("final") or {}).get("train_eval_acc") or s["train_acc"]
        lr = run.config.get("train", {}).get("lr")
        recipe = "" if lr == DEFAULT_LR else f" (lr {lr:g})"  # a run off the shared recipe is its own series
        rows.append({"family": s["family"], "depth": s["depth"], "variant": s["variant"],
                     "net": ("residual" if s["residual"] else "plain") + (" + BN" if s["batchnorm"] else ", no BN") + recipe,
                     "source": "these runs", "seed": s["seed"], "test_error": 100 * (1 - s["test_acc"]),
                     "train_error": 100 * (1 - train_acc) if train_acc is not None else np.nan})
    for depth, err in HE_2016_CIFAR10.items():
        rows.append({"family": "cifar", "depth": depth, "variant": "FULL", "net": "residual + BN",
                     "source": "He et al. 2016 (Table 6)", "seed": None, "test_error": err, "train_error": np.nan})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- charts
def curves_chart(hist: pd.DataFrame, value: str = "accuracy", band_kind: str | None = None,
                 splits: tuple[str, ...] = ("train", "test")) -> alt.Chart:
    """Per-epoch curves; with ``band_kind`` the seeds of a group become a mean line and a band."""
    df = hist[hist["split"].isin(splits)].dropna(subset=[value])
    sel = alt.selection_point(fields=["group" if band_kind else "run"], bind="legend")
    color_field = "group" if band_kind else "run"
    opacity = alt.condition(sel, alt.value(1.0), alt.value(0.15))
    if band_kind:
        g = band(df, ["group", "split", "epoch"], value, band_kind)
        base = alt.Chart(g).encode(x=alt.X("epoch:Q", title="epoch"), color=alt.Color("group:N", title="model"),
                                   strokeDash=alt.StrokeDash("split:N", title="split"))
        line = base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title=f"{value} (mean over seeds)"), opacity=opacity,
            tooltip=["group", "split", "epoch", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("lo:Q", format=".4f"),
                     alt.Tooltip("hi:Q", format=".4f"), alt.Tooltip("count:Q", title="seeds")])
        area = base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title=f"{value} (mean over seeds)"), y2="hi:Q", opacity=alt.condition(sel, alt.value(0.18), alt.value(0.03)))
        title = f"{value} per epoch; band: mean ± {band_kind} over seeds"
        return (area + line).add_params(sel).properties(title=title, height=320)
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("epoch:Q"), y=alt.Y(f"{value}:Q", title=value), color=alt.Color(f"{color_field}:N", title="run"),
        strokeDash=alt.StrokeDash("split:N"), opacity=opacity,
        tooltip=["run", "split", "epoch", alt.Tooltip(f"{value}:Q", format=".4f")])
    return chart.add_params(sel).properties(title=f"{value} per epoch", height=320)


def gap_chart(gap: pd.DataFrame) -> alt.Chart:
    sel = alt.selection_point(fields=["run"], bind="legend")
    return alt.Chart(gap).mark_line(point=True).encode(
        x="epoch:Q", y=alt.Y("gap:Q", title="train acc − test acc"), color=alt.Color("run:N"),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        tooltip=["run", "epoch", alt.Tooltip("gap:Q", format=".4f")],
    ).add_params(sel).properties(title="generalisation gap (clean train accuracy − test accuracy)", height=260)


def gradient_chart(grad: pd.DataFrame, stat_label: str = "mean |grad|", smooth: int = 1) -> alt.Chart:
    """Log-scale per-step curves: the window mean as a line, the window min..max as a band."""
    wide = grad.pivot_table(index=["run", "stage", "step", "epoch"], columns="stat", values="value").reset_index()
    wide["series"] = wide["run"] + " · " + wide["stage"]
    sel = alt.selection_point(fields=["series"], bind="legend")
    base = alt.Chart(wide).encode(x=alt.X("epoch:Q", title="epoch (steps / steps per epoch)"),
                                  color=alt.Color("series:N", title="run · stage"))
    line = base.mark_line(strokeWidth=1.2).encode(
        y=alt.Y("mean:Q", scale=alt.Scale(type="log"), title=stat_label + " (log scale)"),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.1)),
        tooltip=["run", "stage", "step", alt.Tooltip("mean:Q", format=".3e"), alt.Tooltip("min:Q", format=".3e"),
                 alt.Tooltip("max:Q", format=".3e")])
    area = base.mark_area(opacity=0.15).encode(y=alt.Y("min:Q", title=stat_label + " (log scale)"), y2="max:Q")
    note = f"smoothed: moving average of {smooth} steps; " if smooth > 1 else "raw per-step values; "
    return (area + line).add_params(sel).properties(
        title=f"{stat_label} per step — {note}band = min..max of each display window", height=360)


def degradation_chart(table: pd.DataFrame, band_kind: str = "95% CI") -> alt.Chart:
    """Test error vs depth: plain vs residual (with/without BN), He et al.'s numbers beside."""
    ours = table[(table["source"] == "these runs") & (table["family"] == "cifar")]
    ref = table[table["source"] != "these runs"]
    layers = []
    if not ours.empty:
        g = band(ours, ["net", "depth"], "test_error", band_kind)
        base = alt.Chart(g).encode(x=alt.X("depth:Q", title="depth (layers)", scale=alt.Scale(type="log", base=2)),
                                   color=alt.Color("net:N", title="net"))
        layers += [base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title="test error (%)"),
            tooltip=["net", "depth", alt.Tooltip("mean:Q", format=".2f", title="mean test error %"),
                     alt.Tooltip("count:Q", title="seeds"), alt.Tooltip("lo:Q", format=".2f"), alt.Tooltip("hi:Q", format=".2f")]),
            base.mark_errorbar().encode(y=alt.Y("lo:Q", title="test error (%)"), y2="hi:Q")]
    layers.append(alt.Chart(ref).mark_point(shape="diamond", size=70, filled=True, color="black").encode(
        x="depth:Q", y="test_error:Q", tooltip=["source", "depth", "test_error"]))
    layers.append(alt.Chart(ref).mark_line(strokeDash=[4, 3], color="black").encode(x="depth:Q", y="test_error:Q"))
    return alt.layer(*layers).properties(
        title=f"CIFAR-10 test error vs depth (lines: mean over seeds, bars: {band_kind}; black: He et al. 2016)", height=340)


def separability_chart(table: pd.DataFrame, band_kind: str | None = None) -> alt.Chart:
    """Metric vs stage, one panel a metric; seeds of a model averaged with a band when asked."""
    df = table.copy()
    df["label"] = df["model"] + " (" + df["variant"] + ")"
    if band_kind:
        g = band(df, ["label", "metric", "stage"], "value", band_kind)
        base = alt.Chart(g).encode(x=alt.X("stage:N"), color=alt.Color("label:N", title="model"))
        line = base.mark_line(point=True).encode(y=alt.Y("mean:Q", title="value"),
                                                 tooltip=["label", "stage", alt.Tooltip("mean:Q", format=".4f"),
                                                          alt.Tooltip("count:Q", title="seeds")])
        bars = base.mark_errorbar().encode(y=alt.Y("lo:Q", title="value"), y2="hi:Q")
        layer = alt.layer(bars, line, data=g)
        return layer.facet(facet=alt.Facet("metric:N"), columns=3).resolve_scale(y="independent").properties(
            title=f"separability per stage (mean over seeds ± {band_kind})")
    df["series"] = df["label"] + " s" + df["seed"].astype(str)
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("stage:N"), y=alt.Y("value:Q"), color=alt.Color("series:N", title="run"),
        tooltip=["series", "stage", "metric", alt.Tooltip("value:Q", format=".4f"), "dims", "n"],
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
