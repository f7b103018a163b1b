"""Held-out accuracies of simple classifiers on PCA(p) features fitted per training fold.

Parameters ``X``, ``y``, ``p``, ``folds``, ``seed`` as in :mod:`explorer.separability`; the
folds and projections come from :func:`explorer.separability.cv.cv_outputs`.
"""
from __future__ import annotations

import numpy as np
from .checks import metric, positive
from .cv import cv_outputs, knn, logistic_probe
from .estimators import lda_fit
from .settings import DEFAULT_SETTINGS as _D


@metric
def lda_accuracy(X, y, p: int = _D.p, folds: int = _D.folds, seed: int = _D.seed) -> float:
    """CV accuracy of linear discriminant analysis with Ledoit-Wolf shrinkage on PCA(p).

    The classifier is :func:`explorer.separability.estimators.lda_fit` (scikit-learn's
    ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")``, written out).

    Parameters
    ----------
    X, y, p, folds, seed
        See the package docstring; PCA is fitted on each training fold.

    Returns
    -------
    float
        Stratified k-fold accuracy in [0, 1]; chance is about the largest class share.

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    .. [2] O. Ledoit, M. Wolf, J. Multivariate Analysis 88(2), 2004.
    """
    return float(np.mean(cv_outputs(X, y, p, folds, seed, lda_fit, "predict") == y))


@metric
def linear_probe_accuracy(X, y, p: int = _D.p, folds: int = _D.folds, seed: int = _D.seed) -> float:
    """CV accuracy of a multinomial logistic probe (C = 1) on standardised PCA(p) features.

    Parameters
    ----------
    X, y, p, folds, seed
        See the package docstring; PCA and scaler are fitted on each training fold.

    Returns
    -------
    float
        Stratified k-fold accuracy in [0, 1].

    References
    ----------
    .. [1] G. Alain, Y. Bengio, Understanding intermediate layers using linear classifier
       probes, ICLR workshop, 2017.
    """
    P = cv_outputs(X, y, p, folds, seed, logistic_probe, "predict_proba")
    return float(np.mean(P.argmax(axis=1) == y))


@metric
def knn_accuracy(X, y, k: int = _D.k_knn, p: int = _D.p, folds: int = _D.folds, seed: int = _D.seed) -> float:
    """CV accuracy of a Euclidean k-NN classifier on PCA(p) features fitted per fold.

    Parameters
    ----------
    X, y, p, folds, seed
        See the package docstring.
    k : int
        Neighbours (capped by the training-fold size).

    Returns
    -------
    float
        Stratified k-fold accuracy in [0, 1].

    References
    ----------
    .. [1] T. Cover, P. Hart, Nearest neighbor pattern classification, IEEE Trans. IT 13, 1967.
    """
    return float(np.mean(cv_outputs(X, y, p, folds, seed, knn(positive("k", k)), "predict") == y))
