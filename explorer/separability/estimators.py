"""The two classifiers the CV metrics fit on every fold, in plain numpy, without per-fit overhead.

Each is the estimator its metric names, written out: same model, same objective, same optimiser
settings. Across 5 folds x 4 stages x the selected runs the library estimators spent most of a
fit validating input and dispatching (10 ms a fit on 400 x 32 rows); these take a fraction of that.
``tests/test_estimators.py`` checks both against scikit-learn's on random and real data.

* :func:`lda_fit`: linear discriminant analysis with the within-class covariance estimated by
  Ledoit-Wolf shrinkage on standardised features, each class's estimate weighted by its prior
  (scikit-learn's ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")``).
  :func:`lda_directions`: its discriminant directions, for the 2-D views (``solver="eigen"``).
* :func:`probe_fit`: multinomial logistic regression, C = 1 (L2 penalty ||W||^2 / (2 C n) on the
  mean cross-entropy, intercepts not penalised), on features standardised with the training
  rows' mean and standard deviation, L-BFGS from zero, gradient tolerance 1e-4 (scikit-learn's
  ``make_pipeline(StandardScaler(), LogisticRegression(C=1.0))``); two classes: the binomial model
  (one weight vector, class 0 scoring 0), as there.

References
----------
.. [1] O. Ledoit, M. Wolf, A well-conditioned estimator for large-dimensional covariance
   matrices, J. Multivariate Analysis 88(2), 2004.
.. [2] T. Hastie, R. Tibshirani, J. Friedman, The Elements of Statistical Learning, 2nd ed.,
   sections 4.3 (LDA) and 4.4 (logistic regression), 2009.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from scipy.optimize import minimize
from scipy.special import logsumexp


def _scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (ddof 0), a zero deviation replaced by 1."""
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    sd[sd < 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    return mean, sd


def ledoit_wolf(X: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf shrunk covariance of the rows of X: (1 - s) S + s (tr S / d) I, s from [1]."""
    n, d = X.shape
    Xc = X - X.mean(axis=0)
    S = Xc.T @ Xc / n
    if d == 1:
        return S
    X2 = Xc ** 2
    trace = X2.sum(axis=0) / n
    mu = trace.sum() / d
    delta_ = np.sum((Xc.T @ Xc) ** 2) / n ** 2
    beta_ = np.sum(X2.T @ X2)
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace.sum() + d * mu ** 2) / d
    beta = min(beta, delta)
    s = 0.0 if beta == 0 or delta == 0 else beta / delta  # delta = 0: S is already a multiple of I
    out = (1.0 - s) * S
    out.flat[::d + 1] += s * mu
    return out


@dataclass(frozen=True)
class Linear:
    """A fitted linear classifier: scores = (X - shift) / scale @ coef.T + intercept, over ``classes``."""

    classes: np.ndarray
    coef: np.ndarray  # (K, d)
    intercept: np.ndarray  # (K,)
    shift: np.ndarray | float = 0.0
    scale: np.ndarray | float = 1.0

    def scores(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.shift) / self.scale) @ self.coef.T + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(self.scores(X), axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        S = self.scores(X)
        return np.exp(S - logsumexp(S, axis=1, keepdims=True))


def _shrunk_cov(X: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf covariance of the standardised rows of X, scaled back to X's units."""
    m, sd = _scale(X)
    return sd[:, None] * ledoit_wolf((X - m) / sd) * sd[None, :]


def _class_stats(X: np.ndarray, y: np.ndarray):
    """Classes, label codes, priors, class means and the prior-weighted shrunk within-class covariance."""
    classes, codes = np.unique(y, return_inverse=True)
    priors = np.bincount(codes) / len(y)
    means = np.empty((len(classes), X.shape[1]))
    within = np.zeros((X.shape[1], X.shape[1]))
    for k in range(len(classes)):
        Xk = X[codes == k]
        means[k] = Xk.mean(axis=0)
        within += priors[k] * _shrunk_cov(Xk)
    return classes, codes, priors, means, within


def lda_fit(X: np.ndarray, y: np.ndarray) -> Linear:
    """Shrinkage LDA (see the module docstring) fitted on rows X with labels y."""
    classes, _, priors, means, within = _class_stats(X, y)
    coef = np.linalg.lstsq(within, means.T, rcond=None)[0].T
    intercept = -0.5 * np.einsum("kd,kd->k", means, coef) + np.log(priors)
    return Linear(classes, coef, intercept)


def lda_directions(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Discriminant directions of shrinkage LDA, columns by decreasing between/within variance ratio.

    The generalised eigenvectors of S_b v = lambda S_w v (normalised v^T S_w v = 1), with S_w the
    shrunk within-class covariance of :func:`lda_fit` and S_b = S_t - S_w, S_t the shrunk covariance
    of all rows (scikit-learn's ``LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")``,
    whose ``transform`` is ``X @ directions``)."""
    within = _class_stats(X, y)[4]
    lam, V = eigh(_shrunk_cov(X) - within, within)
    return V[:, np.argsort(lam)[::-1]]


def _loss_grad(w: np.ndarray, X: np.ndarray, codes: np.ndarray, K: int, l2: float) -> tuple[float, np.ndarray]:
    """Mean multinomial cross-entropy + l2/2 ||W||^2 and its gradient; w = [W (m x d), b (m)] flattened.

    m = K, or m = 1 for two classes (the binomial model: class 0 scores 0, as in the library's)."""
    n, d = X.shape
    m = 1 if K == 2 else K
    W, b = w[:m * d].reshape(m, d), w[m * d:]
    S = X @ W.T + b
    if K == 2:
        S = np.column_stack([np.zeros(n), S])
    S -= S.max(axis=1, keepdims=True)  # scores relative to each row's largest: exp cannot overflow
    rows = np.arange(n)
    E = np.exp(S)
    total = E.sum(axis=1)
    loss = float((np.log(total).sum() - S[rows, codes].sum()) / n + 0.5 * l2 * np.sum(W * W))
    E /= total[:, None]
    E[rows, codes] -= 1.0
    R = E[:, K - m:] / n
    return loss, np.concatenate([(R.T @ X + l2 * W).ravel(), R.sum(axis=0)])


def probe_fit(X: np.ndarray, y: np.ndarray, C: float = 1.0, tol: float = 1e-4, max_iter: int = 2000) -> Linear:
    """Standardised multinomial logistic regression (see the module docstring) fitted on rows X, labels y."""
    classes, codes = np.unique(y, return_inverse=True)
    shift, scale = _scale(X)
    Xs = (X - shift) / scale
    K, d = len(classes), X.shape[1]
    m = 1 if K == 2 else K
    res = minimize(_loss_grad, np.zeros(m * (d + 1)), args=(Xs, codes, K, 1.0 / (C * len(X))), jac=True,
                   method="L-BFGS-B", options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps})
    W, b = res.x[:m * d].reshape(m, d), res.x[m * d:]
    if K == 2:
        W, b = np.vstack([np.zeros(d), W]), np.concatenate([[0.0], b])
    return Linear(classes, W, b, shift, scale)
