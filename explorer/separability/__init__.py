"""Class separability of a stage's probe features: pure functions ``f(X, y, ...) -> float``.

``X`` is (n, d) (n ~ 500 probe images, d from 16 to 65,536), ``y`` one label a row, and
``S_W = sum_k sum_{i in k} (x_i - mu_k)(x_i - mu_k)^T``,
``S_B = sum_k n_k (mu_k - mu)(mu_k - mu)^T``.
Caller errors (shapes, < 2 classes, a class with 1 sample, bad parameters) raise
:class:`InputError`, a ``ValueError``. Non-finite or constant features give NaN instead;
:func:`check_features` says why and :func:`score` returns ``(value, reason)``.

Common parameters: ``X``, ``y`` as above; ``p`` principal components kept (capped by the
rank); ``folds`` stratified CV folds (capped by the smallest class size); ``seed`` the fold
shuffle seed. Their defaults are :data:`DEFAULT_SETTINGS` (:class:`MetricSettings`).

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

Modules, lower layers first: ``checks`` (validation), ``settings`` (the parameters),
``linalg`` (Gram, eigenpairs, embedding, PCA), ``cv`` (per-fold PCA and held-out outputs),
``fisher``, ``classifiers``, ``information``, ``geometry`` (the measures), ``metrics``
(registry and :func:`score`).
"""
from .checks import InputError, check_features
from .classifiers import knn_accuracy, lda_accuracy, linear_probe_accuracy
from .cv import FOLD_CACHE as _FOLD_CACHE
from .fisher import effective_p, fisher_criterion, fisher_trace_ratio
from .geometry import cka_matrix, linear_cka, silhouette
from .information import mi_knn_bits, mi_probe_bits
from .linalg import embed, one_blas_thread, pca_scores
from .metrics import METRIC_INFO, METRICS, metric_info, score
from .settings import DEFAULT_SETTINGS, MetricSettings, describe

__all__ = [
    "InputError", "check_features", "embed", "one_blas_thread", "pca_scores", "effective_p",
    "fisher_trace_ratio", "fisher_criterion", "lda_accuracy", "linear_probe_accuracy", "knn_accuracy",
    "mi_probe_bits", "mi_knn_bits", "silhouette", "linear_cka", "cka_matrix",
    "METRICS", "METRIC_INFO", "metric_info", "score",
    "MetricSettings", "DEFAULT_SETTINGS", "describe",
]
