"""What each verdict row measures on one run, read from the caches only (never computed here).

Each function takes a run and gives one number, NaN when the run has no such measurement; every
measure is defined where it is computed (the module named in each docstring). The time point is the
one the row names: after training unless the function says "init".
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..runs import Run


def _safe(f: Callable[[Run], float]) -> Callable[[Run], float]:
    def g(run: Run) -> float:
        try:
            v = f(run)
            return float("nan") if v is None else float(v)
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            return float("nan")
    return g


@_safe
def train_error(r: Run) -> float:
    return 100 * (1 - r.record.final.clean_train_acc)


@_safe
def test_error(r: Run) -> float:
    return 100 * (1 - r.record.final.test_acc)


@_safe
def grad_ratio(r: Run) -> float:
    """Stage0 / last-stage mean |grad| late in training (explorer.analysis.gradients.late_ratio)."""
    from ..analysis.gradients import late_ratio  # stage0 / last stage, median over the last 10% of steps
    return late_ratio(r)


def _mech(r: Run, kind: str):
    from ..studies.catalog import study_table
    return study_table(r, kind, cached_only=True)


@_safe
def lesion_share(r: Run) -> float:
    """The share of the above-chance probe accuracy lost with one block deleted, median over the deletable blocks:
    (intact - lesioned) / (intact - 1/classes) (explorer.studies.lesion). 1: the net falls to chance; 0: unharmed.
    Normalised so that a net that starts lower is not read as more robust for having less to lose."""
    t = _mech(r, "lesion")
    s = t[(t["view"] == "single") & t["deletable"].astype(bool)]
    base = float(s["baseline_accuracy"].iloc[0])
    chance = 1.0 / (len(r.record.data.classes or ()) or 10)
    return (base - float(np.median(s["accuracy"]))) / (base - chance) if base > chance else float("nan")


@_safe
def corr_length(r: Run) -> float:
    """Correlation length of input gradients at the trained weights (explorer.studies.shatter)."""
    return _mech(r, "shatter")["length"].iloc[0]


def _curvature(r: Run, field: str) -> float:
    t = _mech(r, "curvature")
    return float(t[field].iloc[0]) if t is not None and field in t else float("nan")


@_safe
def hessian_top(r: Run) -> float:
    """The Hessian's largest eigenvalue at the trained weights (explorer.studies.curvature, Lanczos)."""
    return _curvature(r, "lambda_max")


@_safe
def hessian_trace(r: Run) -> float:
    """The Hessian's trace at the trained weights (Hutchinson; explorer.studies.curvature)."""
    return _curvature(r, "trace")


@_safe
def hessian_ratio(r: Run) -> float:
    """Li et al.'s non-convexity max(0, -lambda_min) / lambda_max at the trained weights (0 when no negative
    curvature was found): a lower bound, the most negative curvature that the study's fixed number of Lanczos
    steps found (explorer.studies.curvature.lanczos_extremes)."""
    t = _mech(r, "curvature")  # one read for both extremes
    top, bottom = float(t["lambda_max"].iloc[0]), float(t["lambda_min"].iloc[0])
    return max(0.0, -bottom) / top if top > 0 else float("nan")


def cv_mean(metric: str) -> Callable[[Run], float]:
    """The last stage's ``metric`` averaged over the CV shuffles of the cv-repeat study."""
    @_safe
    def f(r: Run) -> float:
        from ..studies.catalog.cv_repeat import run_spread
        return run_spread(_mech(r, "cv-repeat"), metric)[0]
    return f


def _median_over(runs: list[Run], per_run: Callable[[Run], float]) -> float:
    """The median over ``runs`` of a per-run number (a run without it left out); NaN when none has it."""
    v = [x for x in (per_run(r) for r in runs) if np.isfinite(x)]
    return float(np.median(v)) if v else float("nan")


def cv_within(metric: str, runs: list[Run]) -> float:
    """The median over ``runs`` of each run's std over the CV shuffles (the measurement's own noise)."""
    from ..studies.catalog.cv_repeat import run_spread
    return _median_over(runs, _safe(lambda r: run_spread(_mech(r, "cv-repeat"), metric)[1]))


def trace_within(runs: list[Run]) -> float:
    """The median over ``runs`` of the standard error of each run's Hutchinson trace (its own sampling noise)."""
    return _median_over(runs, _safe(lambda r: _curvature(r, "trace_se")))
