"""PCA machinery without d x d matrices: centred Gram, top eigenpairs, isometric embedding.

:func:`embed` maps a wide X (d > n) onto an n x r array (r = rank <= n - 1) through the
n x n Gram matrix. That map is an isometry of all n rows, and every metric depends on the
rows only through rotation- and translation-invariant quantities (PCA scores up to sign,
distances), so a PCA fitted on the training rows of ``embed(X)`` gives exactly the train and
test scores of one fitted on the training rows of X.
"""
from __future__ import annotations

import functools
import os

import numpy as np
from scipy.linalg import eigh
from scipy.sparse.linalg import ArpackError, eigsh

from .checks import as_2d

BLOCK = 8192  # feature columns per Gram chunk: 500 x 8192 float64 = 32 MB of scratch


def one_blas_thread():
    """A context in which numpy's and scipy's BLAS/LAPACK run on one thread.

    The metrics work on matrices of at most n x n (500 x 500): one thread computes them as fast
    as two on this machine, and it never collapses when the other core is busy (a torch pass that
    just ended still spins its OpenMP threads; another process): multi-threaded OpenBLAS then took
    2 s for a 400 x 400 partial eigendecomposition that takes 9 ms on one thread.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once (a scan costs ~2.5 ms a call; numpy's and
    scipy's BLAS are loaded by this module's imports, before the first call)."""
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def gram(A: np.ndarray, mean: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Centred Gram matrix (A - mean)(A - mean)^T, accumulated in float64, in column chunks (no big copy).

    float32 features (what the feature extractor gives) are multiplied in float32, twice as fast,
    with each chunk's product accumulated in float64: the relative error stays ~1e-6, far below
    the estimation noise of any metric here. The products (500 x 500 x d) are large enough to
    use every core even inside :func:`one_blas_thread`; ``threads`` caps that (1 while another
    process computes beside). The result does not depend on the thread count (bit for bit, tested).
    """
    G = np.zeros((len(A), len(A)))
    dtype = np.float32 if A.dtype == np.float32 else np.float64
    with _blas_controller().limit(limits=threads or os.cpu_count() or 1, user_api="blas"):
        for j in range(0, A.shape[1], BLOCK):
            C = A[:, j:j + BLOCK] - mean[j:j + BLOCK].astype(dtype)
            G += (C @ C.T).astype(np.float64)
    return G


def top_eig(M: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-p eigenpairs of a PSD matrix, descending, without numerically zero eigenvalues.

    A few pairs of a large matrix (PCA(32) of a 400-row training fold) come from Lanczos
    iteration (ARPACK, to machine precision, from a fixed start vector: deterministic): twice as
    fast as LAPACK's partial solver there, with eigenvalues equal to 1e-15 and the same vectors up
    to sign (measured on flat stage features). LAPACK serves the rest, and any case ARPACK
    does not converge on.
    """
    m = len(M)
    found = _lanczos(M, p) if 0 < p <= m // 8 and m >= 128 else None
    if found is not None:
        lam, vec = found
    elif 0 < p < m // 2:  # only the top p pairs: much cheaper than the full spectrum
        lam, vec = eigh(M, subset_by_index=[m - p, m - 1], driver="evx")  # evx: ~2x faster than evr here
    else:
        lam, vec = np.linalg.eigh(M)
    lam, vec = lam[::-1], vec[:, ::-1]
    rank = int(np.sum(lam > lam[0] * m * np.finfo(float).eps)) if lam[0] > 0 else 0
    return lam[:min(p, rank)], vec[:, :min(p, rank)]


def coordinate_axes(A: np.ndarray, p: int) -> np.ndarray | None:
    """The top-p principal axes of the centred rows A when they are the coordinate axes, else None.

    They are when the scatter matrix C = A^T A is diagonal to rounding, as for the output of
    :func:`embed` (principal coordinates; its off-diagonal scatter measured ~1e-12 of the largest
    variance on flat stage features). The eigenvectors of a diagonal matrix are the unit vectors, by
    descending diagonal entry (numerically zero ones dropped, as in :func:`top_eig`); rounding E moves
    them by |E_ij| / |C_ii - C_jj|, the accuracy an eigensolver run on C has too. C is never formed:
    (C - D) v for two fixed Gaussian vectors v estimates ||C - D||_F (its expected squared norm), in
    O(n d) instead of O(n d^2).
    """
    d = np.einsum("ij,ij->j", A, A)  # diag(C): column sums of squares
    if not (len(d) and d.max() > 0):
        return None
    v = np.random.default_rng(0).standard_normal((len(d), 2))
    if np.linalg.norm(A.T @ (A @ v) - d[:, None] * v) > DIAGONAL_TOL * d.max() * np.linalg.norm(v):
        return None
    order = np.argsort(-d, kind="stable")
    rank = int(np.sum(d > d.max() * len(d) * np.finfo(float).eps))
    return np.eye(len(d))[:, order[:min(p, rank)]]


def _lanczos(M: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Top-p eigenpairs by ARPACK, ascending; None where it does not converge."""
    try:
        lam, vec = eigsh(M, k=p, which="LA", v0=np.random.default_rng(0).standard_normal(len(M)), tol=0)
    except ArpackError:
        return None
    order = np.argsort(lam)
    return lam[order], vec[:, order]


def embed(X, gram_threads: int | None = None) -> np.ndarray:
    """Isometric float64 copy of the rows of X with at most n columns, for speed.

    For d <= n the centred X; for d > n all PCA scores from the n x n Gram matrix
    (O(n^2 d) time, O(n^2) memory). Distances are kept, so every metric here gives the same
    value on ``embed(X)`` as on X. A non-finite X comes back as is, so that metrics on the
    result still return NaN and :func:`score` its reason.

    Parameters
    ----------
    X : array_like, shape (n, d)
    gram_threads : int, optional
        BLAS threads for the Gram matrix (default: every core); see :func:`gram`.

    Returns
    -------
    ndarray, shape (n, r), r <= min(n, d)

    References
    ----------
    .. [1] B. Schoelkopf, A. Smola, K.-R. Mueller, Nonlinear component analysis as a kernel
       eigenvalue problem, Neural Computation 10(5), 1998.
    """
    X = as_2d(X)
    if not np.isfinite(X).all():
        return X
    mean = X.mean(axis=0, dtype=np.float64)
    if X.shape[1] <= X.shape[0]:
        return X - mean
    lam, U = top_eig(gram(X, mean, gram_threads), len(X))
    return U * np.sqrt(lam)


DIAGONAL_TOL = 1e-10  # off-diagonal scatter, relative to the largest variance, below which axes are principal


def fit_pca(A: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-p principal directions (r x p) of the rows of a float64 array A."""
    mean = A.mean(axis=0)
    Ac = A - mean
    if Ac.shape[1] <= Ac.shape[0]:
        axes = coordinate_axes(Ac, p)
        return mean, axes if axes is not None else top_eig(Ac.T @ Ac, p)[1]
    lam, U = top_eig(Ac @ Ac.T, p)  # fewer rows than columns: the smaller Gram matrix
    return mean, Ac.T @ (U / np.sqrt(lam))


def fold_scores(G: np.ndarray, train: np.ndarray, p: int) -> np.ndarray:
    """Scores of all rows on the top-p principal components of the rows ``train``, from their Gram matrix.

    G is the n x n Gram matrix of the (any-centred) rows; the training rows are centred on their own
    mean inside G (kernel PCA, [1]): K = H G_tt H is their centred Gram matrix and
    K_x = G[:, t] - c 1^T - 1 r^T + s (c: each row's mean product with the training rows, r: the same
    for the training rows, s: the training mean's squared norm) every row's centred products with
    them, so the scores K_x U / sqrt(lambda) equal those of a PCA fitted on the training rows of the
    features themselves (:func:`fit_pca`), without an n_train x n_train product per fold.

    References
    ----------
    .. [1] B. Schoelkopf, A. Smola, K.-R. Mueller, Nonlinear component analysis as a kernel
       eigenvalue problem, Neural Computation 10(5), 1998.
    """
    Kx = G[:, train]  # (n, n_train), a copy: centred in place
    c = Kx.mean(axis=1)  # (n,)
    Kx -= c[:, None]
    Kx -= (c[train] - c[train].mean())[None, :]
    lam, U = top_eig(Kx[train], p)
    return Kx @ (U / np.sqrt(lam))


def pca_scores(X: np.ndarray, p: int) -> np.ndarray:
    """Scores of all rows on the top-p principal components of X."""
    F = embed(X)
    mean, V = fit_pca(F, p)
    return (F - mean) @ V
