"""2-D views of a stage's probe features, as the Separability page draws them.

``PCA``: the top two principal components. ``LDA``: the two leading discriminant directions of
shrinkage LDA (Ledoit-Wolf) fitted on the top 32 PCs. Both are computed on the isometric n x r
copy of the features (``separability.embed``), which has the same geometry, so they are the
views of the full features. The points are descriptive (LDA is fitted on the points it shows);
the cross-validated numbers are in the table. Each axis's sign is fixed: its largest score is positive.
"""
from __future__ import annotations

import numpy as np

from . import separability as sep

METHODS = ("PCA", "LDA")


def project(Z: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """(n, 2) float32 coordinates of the rows of ``Z`` (features, or their ``embed`` copy)."""
    if method not in METHODS:
        raise ValueError(f"Unknown projection {method!r}; expected one of {', '.join(METHODS)}.")
    if not np.isfinite(Z).all():
        raise ValueError("the features hold non-finite values (the run diverged?); nothing to plot.")
    F = sep.embed(Z)
    if F.shape[1] < 2 or not (F != F[0]).any():
        raise ValueError("the features vary along fewer than two directions; there is no 2-D view of them.")
    try:
        with np.errstate(all="ignore"):
            if method == "LDA":
                from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
                P = sep.pca_scores(F, min(32, F.shape[1], len(F) - 1))
                out = LinearDiscriminantAnalysis(n_components=2, solver="eigen", shrinkage="auto").fit_transform(P, y)
            else:
                out = sep.pca_scores(F, 2)
    except np.linalg.LinAlgError as e:
        raise ValueError(f"the {method} view failed numerically ({e}); the features are degenerate.") from None
    if out.shape[1] < 2 or not np.isfinite(out).all():
        raise ValueError(f"the {method} view is undefined for these features (too little variance).")
    return oriented(out[:, :2])


def oriented(xy: np.ndarray) -> np.ndarray:
    """(n, 2) float32 with each axis's sign fixed: its largest-magnitude coordinate is positive.

    An eigenvector's sign is arbitrary; this makes a view the same whichever solver made it
    (cached views made before the rule included)."""
    xy = np.asarray(xy, dtype=np.float32)
    flip = np.where(xy[np.abs(xy).argmax(0), np.arange(xy.shape[1])] < 0, -1, 1).astype(np.float32)
    return np.ascontiguousarray(xy * flip)


def all_projections(feats: dict[str, np.ndarray], y: np.ndarray) -> dict[str, np.ndarray]:
    """``{"stage|method": (n, 2)}`` for every stage and method that has a view (see :func:`project`)."""
    out = {}
    for stage, Z in feats.items():
        for method in METHODS:
            try:
                out[f"{stage}|{method}"] = project(Z, y, method)
            except ValueError:
                continue  # degenerate features: stage_points says why when that view is asked for
    return out
