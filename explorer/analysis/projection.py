"""2-D views of a stage's probe features, as the Separability page draws them.

``PCA``: the top two principal components. ``LDA``: the two leading discriminant directions of
shrinkage LDA (Ledoit-Wolf; ``separability.estimators.lda_directions``) fitted on the top 32 PCs. Both are computed on the isometric n x r
copy of the features (``separability.embed``), which has the same geometry, so they are the
views of the full features. The points are descriptive (LDA is fitted on the points it shows);
the cross-validated numbers are in the table. Each axis's sign is fixed: its largest score is positive.
"""
from __future__ import annotations

import numpy as np

from .. import separability as sep
from ..separability.estimators import lda_directions

METHODS = ("PCA", "LDA")


def project(Z: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """(n, 2) float32 coordinates of the rows of ``Z`` (features, or their ``embed`` copy)."""
    if method not in METHODS:
        raise ValueError(f"Unknown projection {method!r}; expected one of {', '.join(METHODS)}.")
    view = _views(Z, y, (method,))[method]
    if isinstance(view, ValueError):
        raise view
    return view


def _views(Z: np.ndarray, y: np.ndarray, methods) -> dict[str, np.ndarray | ValueError]:
    """Each method's view of one stage, or the ValueError saying why it has none; the top 32 PCs are
    computed once (the PCA view is their first two)."""
    if not np.isfinite(Z).all():
        return dict.fromkeys(methods, ValueError("the features hold non-finite values (the run diverged?); nothing to plot."))
    F = sep.embed(Z)
    if F.shape[1] < 2 or not (F != F[0]).any():
        return dict.fromkeys(methods, ValueError("the features vary along fewer than two directions; there is no 2-D view of them."))
    out: dict[str, np.ndarray | ValueError] = {}
    try:
        with np.errstate(all="ignore"):
            P = sep.pca_scores(F, min(32, F.shape[1], len(F) - 1))
    except np.linalg.LinAlgError as e:
        return dict.fromkeys(methods, ValueError(f"the view failed numerically ({e}); the features are degenerate."))
    for method in methods:
        try:
            with np.errstate(all="ignore"):
                xy = P @ lda_directions(P, y)[:, :2] if method == "LDA" else P[:, :2]
        except np.linalg.LinAlgError as e:
            out[method] = ValueError(f"the {method} view failed numerically ({e}); the features are degenerate.")
            continue
        if xy.shape[1] < 2 or not np.isfinite(xy).all():
            out[method] = ValueError(f"the {method} view is undefined for these features (too little variance).")
        else:
            out[method] = oriented(xy)
    return out


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
        for method, view in _views(Z, y, METHODS).items():
            if not isinstance(view, ValueError):  # degenerate features: stage_points says why when that view is asked for
                out[f"{stage}|{method}"] = view
    return out
