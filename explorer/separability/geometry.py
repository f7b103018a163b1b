"""Descriptive geometry of representations: the silhouette of the classes, linear CKA between two."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score

from .checks import InputError, as_2d, metric, positive
from .linalg import gram, pca_scores
from .settings import DEFAULT_SETTINGS as _D


@metric
def silhouette(X, y, p: int = _D.p) -> float:
    """Mean silhouette of the labels on PCA(p) features (Euclidean); descriptive, no CV.

    Parameters
    ----------
    X, y, p
        See the package docstring.

    Returns
    -------
    float
        In [-1, 1]; about 0 for overlapping classes.

    References
    ----------
    .. [1] P. J. Rousseeuw, Silhouettes, J. Comput. Appl. Math. 20, 1987.
    """
    return float(silhouette_score(pca_scores(X, positive("p", p)), y))


def linear_cka(X1, X2) -> float:
    """Linear CKA <K, L>_F / (||K||_F ||L||_F), K and L the centred n x n Gram matrices.

    Compares two representations of the same n samples, so it takes no labels and is not
    in ``METRICS``.

    Parameters
    ----------
    X1, X2 : array_like
        Shapes (n, d1) and (n, d2), rows the same samples.

    Returns
    -------
    float
        In [0, 1]; 1 for X1 = X2, invariant to orthogonal maps and isotropic scaling; NaN if
        either input is non-finite or constant.

    References
    ----------
    .. [1] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, Similarity of neural network
       representations revisited, ICML, 2019.
    """
    A, B = as_2d(X1, "X1"), as_2d(X2, "X2")
    if len(A) != len(B) or len(A) < 2:
        raise InputError(f"X1 and X2 need the same n >= 2 rows; got {len(A)} and {len(B)}.")
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        return float("nan")
    K = gram(A, A.mean(axis=0, dtype=np.float64))
    L = gram(B, B.mean(axis=0, dtype=np.float64))
    den = np.sqrt(np.sum(K * K) * np.sum(L * L))
    return float(min(1.0, np.sum(K * L) / den)) if den > 0 else float("nan")
