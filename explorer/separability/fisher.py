"""Fisher's separability ratios: the trace ratio on all features, the criterion on PCA(p).

``S_W = sum_k sum_{i in k} (x_i - mu_k)(x_i - mu_k)^T`` and
``S_B = sum_k n_k (mu_k - mu)(mu_k - mu)^T``; neither is ever formed at d x d.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve
from sklearn.covariance import ledoit_wolf

from .checks import metric, positive
from .linalg import embed, pca_scores
from .settings import DEFAULT_SETTINGS as _D


def ratio(num: float, den: float) -> float:
    """num / den, where den ~ 0 means every class is a point: inf if the points differ."""
    if den > 1e-12 * (num + den):  # relative: class means of identical rows may round
        return num / den
    return float("inf") if num > 0 else float("nan")


@metric
def fisher_trace_ratio(X, y) -> float:
    """Fisher's trace ratio tr(S_B) / tr(S_W), in O(n d) time without a d x d matrix.

    Parameters
    ----------
    X, y : array_like
        Features (n, d) and labels (n,).

    Returns
    -------
    float
        >= 0, invariant to scaling, rotation and translation; inf when every class is a
        single point (tr(S_W) = 0 < tr(S_B)); NaN for constant or non-finite X.

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    """
    mu, sw, sb = X.mean(axis=0, dtype=np.float64), 0.0, 0.0
    for c in range(y.max() + 1):  # class by class: float64 scratch stays n_k x d
        Xc = X[y == c]
        m = Xc.mean(axis=0, dtype=np.float64)
        sw += float(np.square(Xc - m).sum())
        sb += len(Xc) * float(np.square(m - mu).sum())
    return ratio(sb, sw)


def effective_p(n: int, d: int, K: int, p: int, rank: int | None = None) -> int:
    """Number of principal components :func:`fisher_criterion` uses: min(p, n - K, d, rank).

    S_W has rank at most n - K, and centred X at most min(d, n - 1) non-trivial components.

    Parameters
    ----------
    n, d, K, p : int
        Samples, features, classes, requested components.
    rank : int, optional
        Rank of the centred X when known (the metric also drops numerically zero ones).

    Returns
    -------
    int

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    """
    return int(min(p, n - K, d, n if rank is None else rank))


@metric
def fisher_criterion(X, y, p: int = _D.p) -> float:
    """tr(S_W^-1 S_B) in the top-p principal components, S_W shrunk by Ledoit-Wolf.

    Parameters
    ----------
    X, y : array_like
        Features (n, d) and labels (n,).
    p : int
        Requested components; :func:`effective_p` gives the number used.

    Returns
    -------
    float
        >= 0; invariant to invertible linear maps when all components are kept (up to the
        shrinkage); tends to tr(Sigma^-1 Sigma_B) for Gaussian classes. inf if S_W = 0.

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    .. [2] O. Ledoit, M. Wolf, A well-conditioned estimator for large-dimensional covariance
       matrices, J. Multivariate Analysis 88(2), 2004.
    """
    F = embed(X)
    n, K = len(y), y.max() + 1
    Z = pca_scores(F, effective_p(n, X.shape[1], K, positive("p", p), F.shape[1]))
    means = np.stack([Z[y == c].mean(axis=0) for c in range(K)])
    W = Z - means[y]  # pooled within-class centred data
    D = (means - Z.mean(axis=0)) * np.sqrt(np.bincount(y))[:, None]
    Sb = D.T @ D
    if not np.isfinite(r := ratio(np.trace(Sb), float(np.square(W).sum()))):
        return r  # every class is a point
    Sw = n * ledoit_wolf(W, assume_centered=True)[0]  # shrunk covariance -> scatter matrix
    return float(np.trace(solve(Sw, Sb, assume_a="pos")))
