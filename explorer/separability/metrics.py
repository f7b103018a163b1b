"""The metric registry (name -> function, name -> one-line description) and :func:`score`."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .checks import InputError, blocking_reason, check_features, check_xy, collapsed
from .classifiers import knn_accuracy, lda_accuracy, linear_probe_accuracy
from .fisher import fisher_criterion, fisher_trace_ratio
from .geometry import silhouette
from .information import mi_knn_bits, mi_probe_bits
from .settings import DEFAULT_SETTINGS, MetricSettings

METRICS: dict[str, Callable[..., float]] = {
    "fisher_trace_ratio": fisher_trace_ratio, "fisher_criterion": fisher_criterion,
    "lda_accuracy": lda_accuracy, "linear_probe_accuracy": linear_probe_accuracy,
    "knn_accuracy": knn_accuracy, "mi_probe_bits": mi_probe_bits,
    "mi_knn_bits": mi_knn_bits, "silhouette": silhouette,
}


def metric_info(settings: MetricSettings = DEFAULT_SETTINGS) -> dict[str, str]:
    """Name -> one line saying what the metric measures, in which unit, under ``settings``."""
    s = settings
    return {
        "fisher_trace_ratio": "tr(S_B)/tr(S_W) on all features: unitless ratio >= 0, no PCA",
        "fisher_criterion": "tr(S_W^-1 S_B) in the top-p PCs, Ledoit-Wolf S_W: unitless >= 0",
        "lda_accuracy": f"{s.folds}-fold CV estimate of shrinkage-LDA accuracy on PCA(p), in [0, 1]",
        "linear_probe_accuracy": f"{s.folds}-fold CV estimate of logistic-probe accuracy on PCA(p), in [0, 1]",
        "knn_accuracy": f"{s.folds}-fold CV estimate of {s.k_knn}-NN accuracy on PCA(p), in [0, 1]",
        "mi_probe_bits": f"lower bound, bits: H(Y) minus {s.folds}-fold CV cross-entropy of a logistic probe",
        "mi_knn_bits": f"Ross k-NN estimate of I(Z;Y) on the top-{s.q} PCs, bits (biased low)",
        "silhouette": "mean silhouette of the classes on PCA(p), in [-1, 1], descriptive",
    }


METRIC_INFO: dict[str, str] = metric_info()


def score(name: str, X, y, **kwargs) -> tuple[float, str]:
    """Compute ``METRICS[name](X, y, **kwargs)`` and say why when it is not trustworthy.

    Parameters
    ----------
    name : str
        A key of ``METRICS``.
    X, y : array_like
        Features (n, d) and labels (n,).
    **kwargs
        Passed to the metric (p, folds, seed, k, q); ``settings.kwargs_for(name)`` gives them.

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
    X, y = check_xy(X, y)
    if (reason := blocking_reason(X)) is not None:
        return float("nan"), reason
    try:
        with np.errstate(all="ignore"):
            value = float(METRICS[name].__wrapped__(X, y, **kwargs))
    except InputError:
        raise
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as e:
        return float("nan"), f"{name} failed numerically ({type(e).__name__}: {e})."
    if not np.isfinite(value) or collapsed(X, y):
        return value, check_features(X, y) or f"{name} is undefined for these features."
    return value, ""
