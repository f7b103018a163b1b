"""Cross-validated classifier outputs on a PCA fitted per training fold.

Stratified k-fold; on each fold the PCA(p) is fitted on the training rows only, so no test
fold leaks into any fit (a truncated global PCA would leak). When the features are wider than a
training fold is long (a flattened stage), every fold's PCA comes from one Gram matrix of all
rows (kernel PCA, linalg.fold_scores), the same projections as fitting each fold's covariance.
The fold projections of recent inputs are cached, keyed by a hash of the content, because
several metrics (LDA, probe, kNN) share them.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from .checks import positive
from .estimators import Linear, probe_fit
from .linalg import embed, fit_pca, fold_scores

FOLD_CACHE: "OrderedDict[tuple, list]" = OrderedDict()  # a few recent fold projections (see fold_projections)
_FOLD_LOCK = threading.Lock()
_CACHE_SIZE = 4  # inputs whose projections are kept


def fold_projections(F: np.ndarray, y: np.ndarray, p: int, folds: int, seed: int) -> list:
    """[(train rows, test rows, Z)] with Z all rows on the fold's training PCA(p).

    Several metrics (LDA, probe, kNN) use the same folds and PCA; the projections are kept for
    the last few inputs, keyed by a hash of the content (never by object identity).
    """
    key = (hashlib.sha256(np.ascontiguousarray(F)).hexdigest(),  # sha256: twice blake2b's speed here (hardware)
           hashlib.sha256(np.ascontiguousarray(y)).hexdigest(), F.shape, F.dtype.str, p, folds, seed)
    with _FOLD_LOCK:
        if key in FOLD_CACHE:
            FOLD_CACHE.move_to_end(key)
            return FOLD_CACHE[key]
    # at most as many folds as the smallest class has rows, so each training fold has them all
    cv = StratifiedKFold(min(folds, np.bincount(y).min()), shuffle=True, random_state=seed)
    splits = list(cv.split(F, y))
    # wider than a training fold is long: every fold's PCA from one Gram matrix of all rows (kernel PCA)
    G = F @ F.T if F.shape[1] > max(len(tr) for tr, _ in splits) else None
    out = []
    for tr, te in splits:
        if G is not None:
            Z = fold_scores(G, tr, p)
        else:
            mean, V = fit_pca(F[tr], p)
            Z = (F - mean) @ V
        if Z.shape[1] == 0:
            raise np.linalg.LinAlgError("a training fold has no variance.")
        out.append((tr, te, Z))
    with _FOLD_LOCK:
        FOLD_CACHE[key] = out
        while len(FOLD_CACHE) > _CACHE_SIZE:
            FOLD_CACHE.popitem(last=False)
    return out


def cv_outputs(X, y, p: int, folds: int, seed: int, fit: Callable, method: str) -> np.ndarray:
    """Held-out ``fit(Z_train, y_train).<method>(Z_test)`` for every row: stratified k-fold, PCA(p) per fold."""
    p, folds = positive("p", p), positive("folds", folds, 2)
    F = embed(X)  # isometry: per-fold PCA on F equals per-fold PCA on X (see linalg)
    out = None
    for tr, te, Z in fold_projections(F, y, p, folds, seed):
        res = getattr(fit(Z[tr], y[tr]), method)(Z[te])
        out = np.empty((len(y),) + res.shape[1:], res.dtype) if out is None else out
        out[te] = res
    return out


def logistic_probe(Z: np.ndarray, y: np.ndarray) -> Linear:
    """The linear probe: multinomial logistic regression (C = 1) on standardised features (see estimators)."""
    return probe_fit(Z, y)


def knn(k: int) -> Callable:
    """A fit function for the Euclidean k-NN classifier, k capped by the training-fold size."""
    return lambda Z, y: KNeighborsClassifier(n_neighbors=min(k, len(Z))).fit(Z, y)
