"""Class separability of a stage's probe features: pure functions ``f(X, y, ...) -> float``.

``X`` is (n, d) (n ~ 500 probe images, d from 16 to 65,536), ``y`` one label a row, and
``S_W = sum_k sum_{i in k} (x_i - mu_k)(x_i - mu_k)^T``,
``S_B = sum_k n_k (mu_k - mu)(mu_k - mu)^T``.
Caller errors (shapes, < 2 classes, a class with 1 sample, bad parameters) raise
:class:`InputError`, a ``ValueError``. Non-finite or constant features give NaN instead;
:func:`check_features` says why and :func:`score` returns ``(value, reason)``.

Common parameters: ``X``, ``y`` as above; ``p`` principal components kept (capped by the
rank); ``folds`` stratified CV folds (capped by the smallest class size); ``seed`` the fold
shuffle seed.

Speed: nothing forms a d x d matrix. :func:`embed` maps a wide X (d > n) onto an n x r array
(r = rank <= n - 1) through the n x n Gram matrix. That map is an isometry of all n rows, and
every metric depends on the rows only through rotation- and translation-invariant quantities
(PCA scores up to sign, distances), so a PCA fitted on the training rows of ``embed(X)`` gives
exactly the train and test scores of one fitted on the training rows of X: no test fold leaks
into any fit (a truncated global PCA would leak). Metrics call :func:`embed` themselves; to
score one wide X many times, pass ``embed(X)`` instead (same values, one Gram matrix). When
other jobs share the CPU (training), call under ``threadpoolctl.threadpool_limits(1, "blas")``:
matrices here are at most n x n and gain nothing from BLAS threads, while spin-waiting BLAS
threads on a busy CPU slow these metrics down 2-15 times.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from typing import Callable

import numpy as np
from scipy.linalg import solve
from scipy.special import digamma
from sklearn.base import clone
from sklearn.covariance import ledoit_wolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KDTree, KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

_BLOCK = 8192  # feature columns per Gram chunk: 500 x 8192 float64 = 32 MB of scratch


class InputError(ValueError):
    """A caller error (shapes, labels, parameters): :func:`score` re-raises it, never hides it."""


# ---------------------------------------------------------------- input checks
def _as_2d(X, what: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] == 0:
        raise InputError(f"{what} must be a 2-D array (n_samples, n_features); "
                         f"got shape {X.shape}.")
    if X.dtype not in (np.float32, np.float64):  # ints, bools, float16: compute in float64
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{what} must hold numbers; got dtype {X.dtype}.") from None
    return X


def _check(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate (X, y); return X as a float array and y as codes 0..K-1."""
    X, y = _as_2d(X), np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise InputError(f"X has {len(X)} rows but y has shape {y.shape}; pass one label per row.")
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise InputError(f"y holds only {len(classes)} class; "
                         "separability needs at least 2 classes.")
    if counts.min() < 2:
        c = classes[np.argmin(counts)]
        raise InputError(f"class {c!r} has only 1 sample; give every class at least 2 or drop it.")
    return X, codes.ravel()


def _positive(name: str, value: int, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InputError(f"{name} must be an integer >= {least}; got {value!r}.")
    return int(value)


def _blocking_reason(X: np.ndarray) -> str | None:
    """Why no metric can be computed on X (non-finite or constant features), else None."""
    bad = ~np.isfinite(X)
    if bad.any():
        return (f"X has {int(bad.sum())} non-finite values (NaN or inf) in "
                f"{int(bad.any(axis=0).sum())} of {X.shape[1]} features; impute or drop them.")
    if not (X != X[0]).any():
        return "every feature is constant across samples, so there is nothing to separate."
    return None


def _collapsed(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether every class is one repeated row (stops at the first class that is not)."""
    return all(not (X[y == c] != X[np.argmax(y == c)]).any() for c in range(y.max() + 1))


def check_features(X, y) -> str | None:
    """Say why the metrics would be NaN or infinite for these features, or return None.

    Parameters
    ----------
    X, y : array_like
        Features (n, d) and labels (n,).

    Returns
    -------
    str or None
        One sentence (non-finite values, constant features, every class collapsed to a
        point), or None when the features are fine.

    Raises
    ------
    InputError
        For caller errors (shapes, fewer than 2 classes, a class with 1 sample).

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    """
    X, y = _check(X, y)
    reason = _blocking_reason(X)
    if reason is None and _collapsed(X, y):
        reason = "every class is collapsed to a single point (zero within-class scatter)."
    return reason


def _metric(fn: Callable) -> Callable:
    """Validate (X, y), give NaN for non-finite or constant X, else call fn(X, codes, ...)."""
    @functools.wraps(fn)
    def wrapper(X, y, *args, **kwargs) -> float:
        X, y = _check(X, y)
        return float("nan") if _blocking_reason(X) else float(fn(X, y, *args, **kwargs))
    return wrapper


# ---------------------------------------------------------------- PCA machinery
def _gram(A: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Centred Gram matrix (A - mean)(A - mean)^T, accumulated in float64, in column chunks (no big copy).

    float32 features (what the feature extractor gives) are multiplied in float32, twice as fast,
    with each chunk's product accumulated in float64: the relative error stays ~1e-6, far below
    the estimation noise of any metric here.
    """
    G = np.zeros((len(A), len(A)))
    dtype = np.float32 if A.dtype == np.float32 else np.float64
    for j in range(0, A.shape[1], _BLOCK):
        C = A[:, j:j + _BLOCK] - mean[j:j + _BLOCK].astype(dtype)
        G += (C @ C.T).astype(np.float64)
    return G


def _top_eig(M: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-p eigenpairs of a PSD matrix, descending, without numerically zero eigenvalues."""
    m = len(M)
    if 0 < p < m // 2:  # only the top p pairs: much cheaper than the full spectrum (PCA(32) of a fold)
        from scipy.linalg import eigh
        lam, vec = eigh(M, subset_by_index=[m - p, m - 1], driver="evx")  # evx: ~2x faster than evr here
    else:
        lam, vec = np.linalg.eigh(M)
    lam, vec = lam[::-1], vec[:, ::-1]
    rank = int(np.sum(lam > lam[0] * m * np.finfo(float).eps)) if lam[0] > 0 else 0
    return lam[:min(p, rank)], vec[:, :min(p, rank)]


def embed(X) -> np.ndarray:
    """Isometric float64 copy of the rows of X with at most n columns, for speed.

    For d <= n the centred X; for d > n all PCA scores from the n x n Gram matrix
    (O(n^2 d) time, O(n^2) memory). Distances are kept, so every metric here gives the same
    value on ``embed(X)`` as on X. A non-finite X comes back as is, so that metrics on the
    result still return NaN and :func:`score` its reason.

    Parameters
    ----------
    X : array_like, shape (n, d)

    Returns
    -------
    ndarray, shape (n, r), r <= min(n, d)

    References
    ----------
    .. [1] B. Schoelkopf, A. Smola, K.-R. Mueller, Nonlinear component analysis as a kernel
       eigenvalue problem, Neural Computation 10(5), 1998.
    """
    X = _as_2d(X)
    if not np.isfinite(X).all():
        return X
    mean = X.mean(axis=0, dtype=np.float64)
    if X.shape[1] <= X.shape[0]:
        return X - mean
    lam, U = _top_eig(_gram(X, mean), len(X))
    return U * np.sqrt(lam)


def _fit_pca(A: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-p principal directions (r x p) of the rows of a float64 array A."""
    mean = A.mean(axis=0)
    Ac = A - mean
    if Ac.shape[1] <= Ac.shape[0]:
        return mean, _top_eig(Ac.T @ Ac, p)[1]
    lam, U = _top_eig(Ac @ Ac.T, p)  # fewer rows than columns: the smaller Gram matrix
    return mean, Ac.T @ (U / np.sqrt(lam))


def _pca_scores(X: np.ndarray, p: int) -> np.ndarray:
    """Scores of all rows on the top-p principal components of X."""
    F = embed(X)
    mean, V = _fit_pca(F, p)
    return (F - mean) @ V


def _ratio(num: float, den: float) -> float:
    """num / den, where den ~ 0 means every class is a point: inf if the points differ."""
    if den > 1e-12 * (num + den):  # relative: class means of identical rows may round
        return num / den
    return float("inf") if num > 0 else float("nan")


_FOLD_CACHE: "OrderedDict[tuple, list]" = OrderedDict()  # a few recent fold projections (see _fold_projections)
_FOLD_LOCK = threading.Lock()


def _fold_projections(F: np.ndarray, y: np.ndarray, p: int, folds: int, seed: int) -> list:
    """[(train rows, test rows, Z)] with Z all rows on the fold's training PCA(p).

    Several metrics (LDA, probe, kNN) use the same folds and PCA; the projections are kept for
    the last few inputs, keyed by a hash of the content (never by object identity).
    """
    key = (hashlib.blake2b(np.ascontiguousarray(F).tobytes(), digest_size=16).hexdigest(),
           hashlib.blake2b(np.ascontiguousarray(y).tobytes(), digest_size=8).hexdigest(), F.shape, p, folds, seed)
    with _FOLD_LOCK:
        if key in _FOLD_CACHE:
            _FOLD_CACHE.move_to_end(key)
            return _FOLD_CACHE[key]
    # at most as many folds as the smallest class has rows, so each training fold has them all
    cv = StratifiedKFold(min(folds, np.bincount(y).min()), shuffle=True, random_state=seed)
    out = []
    for tr, te in cv.split(F, y):
        mean, V = _fit_pca(F[tr], p)
        if V.shape[1] == 0:
            raise np.linalg.LinAlgError("a training fold has no variance.")
        out.append((tr, te, (F - mean) @ V))
    with _FOLD_LOCK:
        _FOLD_CACHE[key] = out
        while len(_FOLD_CACHE) > 4:
            _FOLD_CACHE.popitem(last=False)
    return out


def _cv_outputs(X, y, p: int, folds: int, seed: int, model, method: str) -> np.ndarray:
    """Held-out ``model.<method>`` outputs for every row: stratified k-fold, PCA(p) per fold."""
    p, folds = _positive("p", p), _positive("folds", folds, 2)
    F = embed(X)  # isometry: per-fold PCA on F equals per-fold PCA on X (module docstring)
    out = None
    for tr, te, Z in _fold_projections(F, y, p, folds, seed):
        m = clone(model)
        if isinstance(m, KNeighborsClassifier):
            m.set_params(n_neighbors=min(m.n_neighbors, len(tr)))
        res = getattr(m.fit(Z[tr], y[tr]), method)(Z[te])
        out = np.empty((len(y),) + res.shape[1:], res.dtype) if out is None else out
        out[te] = res
    return out


def _probe():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def _entropy_nats(y: np.ndarray) -> float:
    prior = np.bincount(y) / len(y)
    return float(-np.sum(prior * np.log(prior)))


# ---------------------------------------------------------------- metrics
@_metric
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
    return _ratio(sb, sw)


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


@_metric
def fisher_criterion(X, y, p: int = 32) -> float:
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
    Z = _pca_scores(F, effective_p(n, X.shape[1], K, _positive("p", p), F.shape[1]))
    means = np.stack([Z[y == c].mean(axis=0) for c in range(K)])
    W = Z - means[y]  # pooled within-class centred data
    D = (means - Z.mean(axis=0)) * np.sqrt(np.bincount(y))[:, None]
    Sb = D.T @ D
    if not np.isfinite(r := _ratio(np.trace(Sb), float(np.square(W).sum()))):
        return r  # every class is a point
    Sw = n * ledoit_wolf(W, assume_centered=True)[0]  # shrunk covariance -> scatter matrix
    return float(np.trace(solve(Sw, Sb, assume_a="pos")))


@_metric
def lda_accuracy(X, y, p: int = 32, folds: int = 5, seed: int = 0) -> float:
    """CV accuracy of ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")`` on PCA(p).

    Parameters
    ----------
    X, y, p, folds, seed
        See the module docstring; PCA is fitted on each training fold.

    Returns
    -------
    float
        Stratified k-fold accuracy in [0, 1]; chance is about the largest class share.

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    .. [2] O. Ledoit, M. Wolf, J. Multivariate Analysis 88(2), 2004.
    """
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    return float(np.mean(_cv_outputs(X, y, p, folds, seed, lda, "predict") == y))


@_metric
def linear_probe_accuracy(X, y, p: int = 32, folds: int = 5, seed: int = 0) -> float:
    """CV accuracy of a multinomial logistic probe (C = 1) on standardised PCA(p) features.

    Parameters
    ----------
    X, y, p, folds, seed
        See the module docstring; PCA and scaler are fitted on each training fold.

    Returns
    -------
    float
        Stratified k-fold accuracy in [0, 1].

    References
    ----------
    .. [1] G. Alain, Y. Bengio, Understanding intermediate layers using linear classifier
       probes, ICLR workshop, 2017.
    """
    P = _cv_outputs(X, y, p, folds, seed, _probe(), "predict_proba")
    return float(np.mean(P.argmax(axis=1) == y))


@_metric
def mi_probe_bits(X, y, p: int = 32, folds: int = 5, seed: int = 0) -> float:
    """Held-out lower bound on I(Z;Y) in bits: max(0, H(Y) - CE) / ln 2.

    CE is the k-fold CV cross-entropy (nats, mean over all held-out rows) of the probe of
    :func:`linear_probe_accuracy`, probabilities clipped to >= 1e-12, and H(Y) the empirical
    label entropy: the probe family's usable information, below the Shannon information.

    Parameters
    ----------
    X, y, p, folds, seed
        See the module docstring.

    Returns
    -------
    float
        Bits in [0, H(Y)] (H(Y) = log2 K for balanced classes).

    References
    ----------
    .. [1] Y. Xu, S. Zhao, J. Song, R. Stewart, S. Ermon, A theory of usable information
       under computational constraints, ICLR, 2020.
    """
    P = _cv_outputs(X, y, p, folds, seed, _probe(), "predict_proba")
    ce = -np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-12, None)))
    return max(0.0, _entropy_nats(y) - ce) / np.log(2)


@_metric
def mi_knn_bits(X, y, q: int = 10, k: int = 3) -> float:
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
    k, Z = _positive("k", k), _pca_scores(X, _positive("q", q))
    # break distance ties (duplicate rows) with negligible noise, as sklearn does
    Z = Z + 1e-10 * np.abs(Z).mean() * np.random.default_rng(0).standard_normal(Z.shape)
    counts = np.bincount(y)
    radius, k_used = np.empty(len(y)), np.empty(len(y))
    for c in range(len(counts)):
        idx = np.flatnonzero(y == c)
        kc = min(k, len(idx) - 1)
        dist = NearestNeighbors(n_neighbors=kc).fit(Z[idx]).kneighbors()[0]
        radius[idx], k_used[idx] = np.nextafter(dist[:, -1], 0), kc  # strictly inside d
    m = KDTree(Z).query_radius(Z, radius, count_only=True)
    mi = digamma(len(y)) - digamma(counts[y]).mean() + digamma(k_used).mean() - digamma(m).mean()
    # psi(N) - <psi(N_x)> slightly exceeds the plug-in H(Y), and I(Z;Y) <= H(Y) always
    return float(np.clip(mi, 0.0, _entropy_nats(y))) / np.log(2)


@_metric
def knn_accuracy(X, y, k: int = 5, p: int = 32, folds: int = 5, seed: int = 0) -> float:
    """CV accuracy of a Euclidean k-NN classifier on PCA(p) features fitted per fold.

    Parameters
    ----------
    X, y, p, folds, seed
        See the module docstring.
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
    knn = KNeighborsClassifier(n_neighbors=_positive("k", k))
    return float(np.mean(_cv_outputs(X, y, p, folds, seed, knn, "predict") == y))


@_metric
def silhouette(X, y, p: int = 32) -> float:
    """Mean silhouette of the labels on PCA(p) features (Euclidean); descriptive, no CV.

    Parameters
    ----------
    X, y, p
        See the module docstring.

    Returns
    -------
    float
        In [-1, 1]; about 0 for overlapping classes.

    References
    ----------
    .. [1] P. J. Rousseeuw, Silhouettes, J. Comput. Appl. Math. 20, 1987.
    """
    return float(silhouette_score(_pca_scores(X, _positive("p", p)), y))


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
    A, B = _as_2d(X1, "X1"), _as_2d(X2, "X2")
    if len(A) != len(B) or len(A) < 2:
        raise InputError(f"X1 and X2 need the same n >= 2 rows; got {len(A)} and {len(B)}.")
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        return float("nan")
    K = _gram(A, A.mean(axis=0, dtype=np.float64))
    L = _gram(B, B.mean(axis=0, dtype=np.float64))
    den = np.sqrt(np.sum(K * K) * np.sum(L * L))
    return float(min(1.0, np.sum(K * L) / den)) if den > 0 else float("nan")


METRICS: dict[str, Callable[..., float]] = {
    "fisher_trace_ratio": fisher_trace_ratio, "fisher_criterion": fisher_criterion,
    "lda_accuracy": lda_accuracy, "linear_probe_accuracy": linear_probe_accuracy,
    "knn_accuracy": knn_accuracy, "mi_probe_bits": mi_probe_bits,
    "mi_knn_bits": mi_knn_bits, "silhouette": silhouette,
}

METRIC_INFO: dict[str, str] = {
    "fisher_trace_ratio": "tr(S_B)/tr(S_W) on all features: unitless ratio >= 0, no PCA",
    "fisher_criterion": "tr(S_W^-1 S_B) in the top-p PCs, Ledoit-Wolf S_W: unitless >= 0",
    "lda_accuracy": "5-fold CV estimate of shrinkage-LDA accuracy on PCA(p), in [0, 1]",
    "linear_probe_accuracy": "5-fold CV estimate of logistic-probe accuracy on PCA(p), in [0, 1]",
    "knn_accuracy": "5-fold CV estimate of 5-NN accuracy on PCA(p), in [0, 1]",
    "mi_probe_bits": "lower bound, bits: H(Y) minus 5-fold CV cross-entropy of a logistic probe",
    "mi_knn_bits": "Ross k-NN estimate of I(Z;Y) on the top-10 PCs, bits (biased low)",
    "silhouette": "mean silhouette of the classes on PCA(p), in [-1, 1], descriptive",
}


def score(name: str, X, y, **kwargs) -> tuple[float, str]:
    """Compute ``METRICS[name](X, y, **kwargs)`` and say why when it is not trustworthy.

    Parameters
    ----------
    name : str
        A key of ``METRICS``.
    X, y : array_like
        Features (n, d) and labels (n,).
    **kwargs
        Passed to the metric (p, folds, seed, k, q).

    Returns
    -------
    (float, str)
        ``(value, "")`` normally; ``(nan, reason)`` for non-finite or constant features or a
        numerical failure (LinAlgError, ValueError, FloatingPointError in the computation);
        ``(value, reason)`` when every class is collapsed to a point (Fisher ratios inf).

    Raises
    ------
    InputError
        For an unknown name and for caller errors (shapes, labels, parameters).

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    """
    if name not in METRICS:
        raise InputError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}.")
    X, y = _check(X, y)
    if (reason := _blocking_reason(X)) is not None:
        return float("nan"), reason
    try:
        with np.errstate(all="ignore"):
            value = float(METRICS[name].__wrapped__(X, y, **kwargs))
    except InputError:
        raise
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as e:
        return float("nan"), f"{name} failed numerically ({type(e).__name__}: {e})."
    if not np.isfinite(value) or _collapsed(X, y):
        return value, check_features(X, y) or f"{name} is undefined for these features."
    return value, ""
