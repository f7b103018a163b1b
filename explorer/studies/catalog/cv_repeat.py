"""The last stage's held-out measures over several cross-validation shuffles: measurement noise apart
from seed noise.

The separability table (:mod:`explorer.analysis.table`) scores each stage with one fold shuffle
(seed 0). A held-out accuracy of 500 images moves by about a point between shuffles, which is as
large as some differences between nets; so the verdict uses each run's mean over ``shuffles``
shuffles (seeds 0..shuffles-1) of the same 5-fold split and shows the within-run spread (std over
the shuffles) beside the spread across replicates. Same features (gap, the run's cached probe
features), same estimators and settings as the table: only the fold shuffle changes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ... import separability as sep
from ...analysis.table import embedded, run_features
from .base import NUM, Study, check_settings, setting

METRICS = ("lda_accuracy", "mi_probe_bits")


@dataclass(frozen=True)
class RepeatSettings:
    """``shuffles`` fold shuffles (seeds 0 .. shuffles - 1) of the last stage's held-out measures."""

    shuffles: int = setting(5, flag="--shuffles", label="CV shuffles", help="cv-repeat: fold shuffles (seeds 0..N-1)",
                            lo=2, hi=50)

    def __post_init__(self):
        check_settings(self)


def _compute(run, inputs, cfg: RepeatSettings, progress=None) -> pd.DataFrame:
    stage = run.spec.stage_names[-1]
    X = embedded(run_features(inputs, "gap"))[stage]
    y = inputs.probe.labels.numpy()
    rows = []
    with sep.one_blas_thread():
        for s in range(cfg.shuffles):
            settings = replace(sep.DEFAULT_SETTINGS, seed=s)
            for m in METRICS:
                rows.append({"stage": stage, "metric": m, "cv_seed": s,
                             "value": float(sep.score(m, X, y, **settings.kwargs_for(m))[0])})
            if progress:
                progress((s + 1) / cfg.shuffles, f"shuffle {s + 1} of {cfg.shuffles}")
    return pd.DataFrame(rows)


def run_spread(frame: pd.DataFrame, metric: str) -> tuple[float, float, int]:
    """(mean, std over the shuffles, shuffles) of one metric in one run's table."""
    v = frame.loc[frame["metric"] == metric, "value"].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return (float(v.mean()) if len(v) else float("nan"), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v))


def _chart(df, colors=None):
    import altair as alt

    from ...charts.common import color_encoding
    return alt.Chart(df).mark_tick(thickness=2, size=18).encode(
        x=alt.X("label:N", title=None), y=alt.Y("value:Q", title="value at the last stage, one tick a shuffle"),
        color=color_encoding("condition_label:N", "condition", colors), row=alt.Row("metric:N", title=None),
        tooltip=["label", "metric", "cv_seed", alt.Tooltip("value:Q", format=".4f")]).properties(height=160)


STUDY = Study(
    name="cv-repeat", title="CV shuffles (measurement noise)",
    about="The last stage's LDA accuracy and usable information (probe bound) over several shuffles of the "
          "cross-validation folds: how much of a difference between runs is the measurement's own noise. "
          "The verdict tests each run's mean over the shuffles.",
    settings=RepeatSettings, compute=_compute, chart=_chart,
    verdict_rows=("lost class information",),
    columns={"metric": str, "cv_seed": int, "value": NUM})
