"""Descriptive geometry of representations: the silhouette of the classes, linear CKA between two (or all pairs)."""
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
    return float(cka_matrix([A, B])[0, 1])


def cka_matrix(Xs: list) -> np.ndarray:
    """:func:`linear_cka` of every pair of ``Xs`` (each (n, d_i), rows the same samples), as a matrix.

    Each representation is centred once; <K, L>_F is ||A^T B||_F^2 when both are narrow (d <= n),
    and uses the n x n Gram matrix, computed once, of a wide one: the same quantity, without
    recomputing a Gram matrix for every pair.
    """
    reps, n = [], len(as_2d(Xs[0], "X1"))
    for i, X in enumerate(Xs):
        A = as_2d(X, f"X{i + 1}")
        if len(A) != n or n < 2:
            raise InputError(f"every representation needs the same n >= 2 rows; got {n} and {len(A)}.")
        if not np.isfinite(A).all():
            reps.append(None)
        elif A.shape[1] <= A.shape[0]:
            reps.append(("rows", A - A.mean(axis=0, dtype=np.float64)))
        else:
            reps.append(("gram", gram(A, A.mean(axis=0, dtype=np.float64))))

    def inner(a, b) -> float:  # <K_a, K_b>_F
        (ka, A), (kb, B) = a, b
        if ka == kb == "rows":
            return float(np.sum((A.T @ B) ** 2))
        if ka == kb == "gram":
            return float(np.sum(A * B))
        K, R = (A, B) if ka == "gram" else (B, A)
        return float(np.sum((K @ R) * R))

    norms = [np.sqrt(inner(r, r)) if r is not None else np.nan for r in reps]
    out = np.full((len(reps), len(reps)), np.nan)
    for i in range(len(reps)):
        for j in range(i, len(reps)):
            if reps[i] is None or reps[j] is None or not norms[i] > 0 or not norms[j] > 0:
                continue
            out[i, j] = out[j, i] = min(1.0, inner(reps[i], reps[j]) / (norms[i] * norms[j]))
    return out
