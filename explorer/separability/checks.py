"""Input validation for the separability metrics: caller errors raise, bad features give NaN.

Caller errors (shapes, fewer than 2 classes, a class with 1 sample, bad parameters) raise
:class:`InputError`, a ``ValueError`` with one sentence saying what was expected. Non-finite
or constant features are not caller errors: the metrics return NaN and
:func:`check_features` says why.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np


class InputError(ValueError):
    """A caller error (shapes, labels, parameters): :func:`score` re-raises it, never hides it."""


def as_2d(X, what: str = "X") -> np.ndarray:
    """X as a 2-D float32 or float64 array (other numeric dtypes become float64)."""
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


def check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate (X, y); return X as a float array and y as codes 0..K-1."""
    X, y = as_2d(X), np.asarray(y)
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


def positive(name: str, value: int, least: int = 1) -> int:
    """``value`` as an int, or InputError unless it is an integer >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InputError(f"{name} must be an integer >= {least}; got {value!r}.")
    return int(value)


def blocking_reason(X: np.ndarray) -> str | None:
    """Why no metric can be computed on X (non-finite or constant features), else None."""
    bad = ~np.isfinite(X)
    if bad.any():
        return (f"X has {int(bad.sum())} non-finite values (NaN or inf) in "
                f"{int(bad.any(axis=0).sum())} of {X.shape[1]} features; impute or drop them.")
    if not (X != X[0]).any():
        return "every feature is constant across samples, so there is nothing to separate."
    return None


def collapsed(X: np.ndarray, y: np.ndarray) -> bool:
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
    X, y = check_xy(X, y)
    reason = blocking_reason(X)
    if reason is None and collapsed(X, y):
        reason = "every class is collapsed to a single point (zero within-class scatter)."
    return reason


def metric(fn: Callable) -> Callable:
    """Validate (X, y), give NaN for non-finite or constant X, else call fn(X, codes, ...).

    The undecorated function stays reachable as ``__wrapped__`` (what :func:`score` calls).
    """
    @functools.wraps(fn)
    def wrapper(X, y, *args, **kwargs) -> float:
        X, y = check_xy(X, y)
        return float("nan") if blocking_reason(X) else float(fn(X, y, *args, **kwargs))
    return wrapper
