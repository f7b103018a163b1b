"""Mutual information I(Z;Y) between features and labels, in bits: a probe bound and a k-NN estimate."""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import digamma

from .checks import InputError, metric, positive
from .cv import cv_outputs, logistic_probe
from .linalg import pca_scores
from .settings import DEFAULT_SETTINGS as _D

_ROWS = 1024  # rows a block when counting neighbours: 1024 x n distances at a time


def entropy_nats(y: np.ndarray) -> float:
    """Plug-in entropy H(Y) of label codes 0..K-1, in nats."""
    prior = np.bincount(y) / len(y)
    return float(-np.sum(prior * np.log(prior)))


@metric
def mi_probe_bits(X, y, p: int = _D.p, folds: int = _D.folds, seed: int = _D.seed) -> float:
    """Held-out lower bound on I(Z;Y) in bits: max(0, H(Y) - CE) / ln 2.

    CE is the k-fold CV cross-entropy (nats, mean over all held-out rows) of the probe of
    :func:`linear_probe_accuracy`, probabilities clipped to >= 1e-12, and H(Y) the empirical
    label entropy: the probe family's usable information, below the Shannon information.

    Parameters
    ----------
    X, y, p, folds, seed
        See the package docstring.

    Returns
    -------
    float
        Bits in [0, H(Y)] (H(Y) = log2 K for balanced classes).

    References
    ----------
    .. [1] Y. Xu, S. Zhao, J. Song, R. Stewart, S. Ermon, A theory of usable information
       under computational constraints, ICLR, 2020.
    """
    P = cv_outputs(X, y, p, folds, seed, logistic_probe, "predict_proba")
    ce = -np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-12, None)))
    return max(0.0, entropy_nats(y) - ce) / np.log(2)


@metric
def mi_knn_bits(X, y, q: int = _D.q, k: int = _D.k_mi) -> float:
    """Ross's k-NN estimate of I(Z;Y) in bits, Z the top-q principal components jointly.

    ``I = psi(N) - <psi(N_x)> + psi(k) - <psi(m)>``: d is a row's Euclidean distance to its
    k-th nearest neighbour in its class (k capped at N_x - 1); m counts rows strictly closer
    than d, the row included, i.e. the others within d (as sklearn's ``_compute_mi_cd``, also
    Euclidean). PC scores are not rescaled, so the geometry is the features' own.

    Parameters
    ----------
    X, y : array_like
        Features (n, d) and labels (n,).
    q, k : int
        Principal components forming Z (capped by the rank); neighbours within the class.

    Returns
    -------
    float
        Bits in [0, H(Y)]; biased low as q grows.

    References
    ----------
    .. [1] B. C. Ross, Mutual information between discrete and continuous data sets,
       PLoS ONE 9(2), e87357, 2014.
    .. [2] A. Kraskov, H. Stoegbauer, P. Grassberger, Estimating mutual information,
       Phys. Rev. E 69, 066138, 2004.
    """
    k, Z = positive("k", k), pca_scores(X, positive("q", q))
    # break distance ties (duplicate rows) with negligible noise, as sklearn does
    Z = Z + 1e-10 * np.abs(Z).mean() * np.random.default_rng(0).standard_normal(Z.shape)
    counts = np.bincount(y)
    radius, k_used = np.empty(len(y)), np.empty(len(y))
    for c in np.flatnonzero(counts):
        idx = np.flatnonzero(y == c)
        kc = min(k, len(idx) - 1)
        if kc < 1:
            raise InputError(f"the k-NN information estimate needs at least 2 rows a class; class {c} has 1.")
        D = cdist(Z[idx], Z[idx])
        np.fill_diagonal(D, np.inf)  # a row is not its own neighbour
        radius[idx], k_used[idx] = np.partition(D, kc - 1, axis=1)[:, kc - 1], kc
    # m: rows strictly closer than d, the row itself included (exact distances, in row blocks: O(block x n) memory)
    m = np.concatenate([(cdist(Z[j:j + _ROWS], Z) < radius[j:j + _ROWS, None]).sum(axis=1)
                        for j in range(0, len(y), _ROWS)])
    mi = digamma(len(y)) - digamma(counts[y]).mean() + digamma(k_used).mean() - digamma(m).mean()
    # psi(N) - <psi(N_x)> slightly exceeds the plug-in H(Y), and I(Z;Y) <= H(Y) always
    return float(np.clip(mi, 0.0, entropy_nats(y))) / np.log(2)
