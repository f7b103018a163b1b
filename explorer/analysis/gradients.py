"""Gradient tables from the per-step logs: per run, per condition (replicates aggregated), and the
vanishing-gradient test.

The vanishing-gradient test compares the gradient statistic of the first stage (stage0, the
stem) with that of the last stage, step by step: ratio = stat(stage0) / stat(last stage). A
ratio far below 1 that persists late in training means the early layers receive a vanishing
share of the gradient (Bengio et al. 1994; Glorot & Bengio 2010). The late-training value is the
median ratio over the last 10% of the logged steps of a run; a condition's value is the median
over its replicates.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..runs import Labels, Run, condition_id, series_labels
from .run_tables import RUN_COLUMNS, run_keys

LATE_FRACTION = 0.1  # the "late training" window: the last 10% of logged steps


def _smooth(v: np.ndarray, smooth: int) -> np.ndarray:
    if smooth > 1:
        return pd.Series(v).rolling(smooth, center=True, min_periods=1).mean().to_numpy()
    return v


def _windows(n: int, max_points: int) -> tuple[np.ndarray, int]:
    w = max(1, int(np.ceil(n / max_points)))
    return np.arange(0, n, w), w


def last_stage(groups: list[str]) -> str:
    return max((g for g in groups if g.startswith("stage")), key=lambda g: int(g[5:]))


def gradient_table(runs: list[Run], stages: list[str] | None = None, max_points: int = 600,
                   smooth: int = 1, stat: str = "mean_abs", labels: Labels | None = None) -> pd.DataFrame:
    """Per-step gradient statistic of each stage of each run, downsampled for display.

    Downsampling keeps each window's min, max and mean (so spikes and dips stay visible);
    ``smooth`` > 1 applies a centred moving average of that many steps first.
    """
    parts = []
    for run in runs:
        log = run.gradlog()
        if log is None or len(log.epoch) == 0:
            continue
        arr = getattr(log, stat)
        steps_per_epoch = max(1, int(np.sum(log.epoch == log.epoch[0])))
        for j, stage in enumerate(log.groups):
            if stages and stage not in stages:
                continue
            v = _smooth(arr[:, j].astype(np.float64), smooth)
            idx, w = _windows(len(v), max_points)
            counts = np.diff(np.append(idx, len(v)))  # windows of w steps, the last one possibly shorter
            for name, vals in (("mean", np.add.reduceat(v, idx) / counts), ("min", np.minimum.reduceat(v, idx)),
                               ("max", np.maximum.reduceat(v, idx))):
                parts.append(pd.DataFrame({"run_id": run.id, "stage": stage, "step": idx + 1,
                                           "epoch": (idx + 1) / steps_per_epoch, "stat": name, "value": vals}))
    cols = ["stage", "step", "epoch", "stat", "value"]
    if not parts:
        return pd.DataFrame(columns=RUN_COLUMNS + cols)
    return run_keys(runs, labels).merge(pd.concat(parts, ignore_index=True), on="run_id")[RUN_COLUMNS + cols]


def gradient_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Replicates aggregated: per (group, stage, step) the median of the runs' window means, and their min..max."""
    means = table[table["stat"] == "mean"]
    keys = ["group", "group_label", "condition_label", "stage", "step", "epoch"]
    g = means.groupby(keys)["value"].agg(median="median", lo="min", hi="max", runs="count").reset_index()
    return g


def ratio_table(runs: list[Run], stat: str = "mean_abs", smooth: int = 25, max_points: int = 300,
                labels: Labels | None = None) -> pd.DataFrame:
    """stat(stage0) / stat(last stage) per run over training (smoothed, downsampled)."""
    parts = []
    for run in runs:
        log = run.gradlog()
        if log is None or len(log.epoch) == 0:
            continue
        arr = getattr(log, stat).astype(np.float64)
        first, last = log.groups.index("stage0"), log.groups.index(last_stage(log.groups))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = _smooth(arr[:, first], smooth) / _smooth(arr[:, last], smooth)
        steps_per_epoch = max(1, int(np.sum(log.epoch == log.epoch[0])))
        idx, w = _windows(len(ratio), max_points)
        parts.append(pd.DataFrame({"run_id": run.id, "step": idx + 1, "epoch": (idx + 1) / steps_per_epoch,
                                   "ratio": [np.nanmedian(ratio[i:i + w]) for i in idx]}))
    cols = ["step", "epoch", "ratio"]
    if not parts:
        return pd.DataFrame(columns=RUN_COLUMNS + cols)
    return run_keys(runs, labels).merge(pd.concat(parts, ignore_index=True), on="run_id")[RUN_COLUMNS + cols]


def late_ratio(run: Run, stat: str = "mean_abs") -> float:
    """The median of stat(stage0) / stat(last stage) over the last 10% of a run's logged steps (NaN if none)."""
    log = run.gradlog()
    if log is None or len(log.epoch) == 0:
        return float("nan")
    arr = getattr(log, stat).astype(np.float64)
    n = max(1, int(len(arr) * LATE_FRACTION))
    a, b = arr[-n:, log.groups.index("stage0")], arr[-n:, log.groups.index(last_stage(log.groups))]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmedian(a / b))


def late_ratio_table(runs: list[Run], stat: str = "mean_abs", labels: Labels | None = None) -> pd.DataFrame:
    """One row a run: depth, variant and its late-training stage0 / last-stage ratio."""
    keys = run_keys(runs, labels).set_index("run_id")
    logged = [r for r in runs if r.gradlog() is not None]
    names = series_labels([r.record for r in logged])
    rows = [{"run_id": r.id, "depth": r.spec.depth, "family": r.spec.family, "variant": r.spec.variant,
             "net": names[condition_id(r.record, without_depth=True)], "ratio": late_ratio(r, stat)} for r in logged]
    df = pd.DataFrame(rows, columns=["run_id", "depth", "family", "variant", "net", "ratio"])
    return keys.join(df.set_index("run_id"), how="inner").reset_index()
