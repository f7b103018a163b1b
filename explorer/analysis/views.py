"""The 2-D view of one stage of a run, for the Separability page's scatter plot.

The views come from the analysis cache, where the flat analysis puts every stage's views (the
zoo ships them for both reductions), else from the run's features. Each method is defined in
``explorer.analysis.projection``.
"""
from __future__ import annotations

import pandas as pd

from . import cache
from .. import separability as sep
from .table import AnalysisError, embedded, run_features
from .inputs import inputs_for
from .projection import all_projections, oriented, project
from ..runs import Run


def stage_points(run: Run, stage: str, reduction: str, method: str) -> pd.DataFrame:
    """The 2-D view of one stage (columns c1, c2, class): from the cache, where the analysis put the
    views of every stage (flat; the zoo's ship for both reductions), else from the run's features
    (gap: cached; flat: one extraction, whose views of every stage are then cached)."""
    inputs = inputs_for(run)
    probe = inputs.probe
    y = probe.labels.numpy()
    key = {**inputs.key(reduction), "kind": "projections"}
    found = cache.read_arrays(key, rows=len(y), cols=2) or {}  # (n_probe, 2) a view
    xy = found.get(f"{stage}|{method}")
    if xy is None:  # not cached, or a view that failed: compute it (once more, to say why)
        feats = run_features(inputs, reduction)
        with sep.one_blas_thread():
            if reduction == "flat" and not found:
                found = all_projections(embedded(feats), y)
                cache.write_arrays(key, found)
                xy = found.get(f"{stage}|{method}")
            if xy is None:
                try:
                    xy = project(feats[stage], y, method)
                except ValueError as e:
                    raise AnalysisError(f"No {method} view of {stage} of {run.id}: {e}") from None
    xy = oriented(xy)  # views cached before the sign rule follow it too
    return pd.DataFrame({"c1": xy[:, 0], "c2": xy[:, 1], "class": [probe.classes[i] for i in y]})
