"""The statistics of a contrast between two nets' replicate values (one value a seed).

* :func:`contrast`: Welch's difference of means, its 95% CI (t with Welch-Satterthwaite degrees
  of freedom), the two-sided p-value, and Hedges' g (Cohen's d with the pooled SD, times the
  small-sample correction ``J = 1 - 3 / (4 (n_a + n_b) - 9)``). With ``log_scale=True`` (positive
  quantities) the test and the interval are computed on the log values and reported back on the
  original scale: ``diff`` is then the *ratio* of geometric means a / b and its CI a ratio too, so
  the interval of a positive quantity never shows negative values; g is on the log values.
* :func:`holm`: Holm's step-down correction over a family of p-values (family-wise error 0.05).
* :func:`decide`: the contrast's outcome against a predicted direction, with a power note.
* :func:`estimate`: one net's mean ± 95% CI (t), or its geometric mean with a log-scale CI.

Fewer than two finite values on either side is "too thin": no test (NaN p-value).

References
----------
.. [1] B. L. Welch, The generalization of "Student's" problem when several different population
   variances are involved, Biometrika 34, 1947.
.. [2] F. E. Satterthwaite, An approximate distribution of estimates of variance components,
   Biometrics Bulletin 2, 1946.
.. [3] L. V. Hedges, Distribution theory for Glass's estimator of effect size and related
   estimators, Journal of Educational Statistics 6, 1981.
.. [4] S. Holm, A simple sequentially rejective multiple test procedure, Scandinavian Journal
   of Statistics 6, 1979.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # family-wise error rate of Holm's correction; the CIs are 1 - ALPHA
POWER = 0.8
OUTCOMES = ("as predicted", "opposite", "no difference detected", "too thin")


@dataclass(frozen=True)
class Contrast:
    """a - b (or, on the log scale, the ratio of geometric means a / b) with its 95% CI."""

    diff: float  # mean(a) - mean(b); log_scale: exp(mean(log a) - mean(log b)), a ratio
    ci_low: float  # on the same scale as diff (a ratio when log_scale)
    ci_high: float
    p: float  # two-sided Welch p-value; NaN when too thin
    df: float  # Welch-Satterthwaite degrees of freedom
    effect: float  # Hedges' g (pooled SD, small-sample corrected); on the log values when log_scale
    n_a: int
    n_b: int
    log_scale: bool
    se: float  # standard error of the difference of means (of the log values when log_scale)

    @property
    def thin(self) -> bool:
        return self.n_a < 2 or self.n_b < 2 or not np.isfinite(self.p)

    @property
    def sign(self) -> int:
        """+1 / -1 / 0: the direction of a - b (of log a - log b on the log scale)."""
        d = np.log(self.diff) if self.log_scale else self.diff
        return int(np.sign(d)) if np.isfinite(d) else 0


@dataclass(frozen=True)
class Holm:
    adjusted: tuple[float, ...]  # Holm-adjusted p-values, in the order given; NaN for an untested contrast
    reject: tuple[bool, ...]  # adjusted p <= alpha
    alpha: float


@dataclass(frozen=True)
class Decision:
    outcome: str  # one of OUTCOMES
    note: str  # what the test could see: the smallest difference detectable at these n and SDs


@dataclass(frozen=True)
class NetEstimate:
    """One net's centre with its 95% CI: the mean (t), or the geometric mean with a log-scale CI."""

    centre: float
    ci_low: float  # NaN for n < 2
    ci_high: float
    n: int
    log_scale: bool


def _values(values, log_scale: bool, what: str) -> np.ndarray:
    """Finite values as floats (NaN and inf dropped); their logs on the log scale."""
    v = np.asarray(list(values), dtype=float).ravel()
    v = v[np.isfinite(v)]
    if log_scale:
        if (v <= 0).any():
            raise ValueError(f"{what}: the log scale needs positive values, got {v[v <= 0][:3].tolist()}; "
                             "use log_scale=False for a quantity that can be zero or negative.")
        v = np.log(v)
    return v


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of the difference of two means (sample variances, ddof=1)."""
    qa, qb = var_a / n_a, var_b / n_b
    den = qa ** 2 / (n_a - 1) + qb ** 2 / (n_b - 1)
    return float((qa + qb) ** 2 / den) if den > 0 else float(n_a + n_b - 2)  # both constant: no spread to weigh


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Hedges' g: (mean a - mean b) / pooled SD, times J = 1 - 3 / (4 (n_a + n_b) - 9)."""
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    diff = a.mean() - b.mean()
    if pooled == 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    return float(diff / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def contrast(a, b, *, log_scale: bool = False, alpha: float = ALPHA) -> Contrast:
    """Welch's contrast of the replicate values ``a`` against ``b`` (see the module doc).

    Parameters
    ----------
    a, b : array_like of float
        One value per replicate (seed); non-finite values are dropped.
    log_scale : bool
        Test on the logs of positive values and report ratios (a ValueError for values <= 0).
    alpha : float
        The CI is 1 - alpha (0.95).

    Returns
    -------
    Contrast
        Too thin (fewer than 2 values on a side): diff is still given, everything else NaN.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}.")
    va, vb = _values(a, log_scale, "a"), _values(b, log_scale, "b")
    back = np.exp if log_scale else float
    nan = float("nan")
    if len(va) == 0 or len(vb) == 0:
        return Contrast(nan, nan, nan, nan, nan, nan, len(va), len(vb), log_scale, nan)
    d = float(va.mean() - vb.mean())
    if len(va) < 2 or len(vb) < 2:
        return Contrast(float(back(d)), nan, nan, nan, nan, nan, len(va), len(vb), log_scale, nan)
    var_a, var_b = float(va.var(ddof=1)), float(vb.var(ddof=1))
    se = float(np.sqrt(var_a / len(va) + var_b / len(vb)))
    df = welch_df(var_a, len(va), var_b, len(vb))
    if se == 0:  # both samples constant: the difference is exact
        lo = hi = d
        p = 1.0 if d == 0 else 0.0
    else:
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
        lo, hi = d - half, d + half
        p = float(2 * stats.t.sf(abs(d) / se, df))
    return Contrast(float(back(d)), float(back(lo)), float(back(hi)), p, df, hedges_g(va, vb),
                    len(va), len(vb), log_scale, se)


def holm(p_values, alpha: float = ALPHA) -> Holm:
    """Holm's step-down correction: adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).

    ``p_values`` in any order; NaN entries (untested contrasts) are left out of the family, get
    a NaN adjusted p-value and are not rejected.
    """
    p = np.asarray(list(p_values), dtype=float)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[(p < 0) | (p > 1)].tolist()}.")
    adjusted = np.full(len(p), np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    reject = tuple(bool(np.isfinite(q) and q <= alpha) for q in adjusted)
    return Holm(tuple(float(q) for q in adjusted), reject, alpha)


def detectable(c: Contrast, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true difference a two-sided Welch test at ``alpha`` detects with ``power``.

    A rough approximation: ``(t_{1-alpha/2, df} + t_{power, df}) * se`` with the observed SDs
    standing in for the true ones (the usual normal approximation with t quantiles). A ratio on
    the log scale (``exp`` of that difference). NaN when too thin.
    """
    if c.thin or not np.isfinite(c.se):
        return float("nan")
    delta = (stats.t.ppf(1 - alpha / 2, c.df) + stats.t.ppf(power, c.df)) * c.se
    return float(np.exp(delta)) if c.log_scale else float(delta)


def decide(c: Contrast, predicted: int, reject: bool, alpha: float = ALPHA) -> Decision:
    """The outcome of a contrast against its predicted direction (+1: a > b, -1: a < b).

    ``reject`` is Holm's decision for this contrast (:func:`holm`); ``alpha`` the level the note's
    detectable difference is worked out at (pass alpha / m for the most stringent step of Holm).
    """
    if predicted not in (1, -1):
        raise ValueError(f"The predicted direction must be +1 (a > b) or -1 (a < b), got {predicted!r}.")
    if c.thin:
        return Decision("too thin", f"n = {c.n_a} and {c.n_b}: a test needs at least 2 replicates a net.")
    smallest = detectable(c, alpha)
    what = f"a ratio of {smallest:.3g}" if c.log_scale else f"a difference of {smallest:.3g}"
    note = (f"n = {c.n_a} and {c.n_b}: {what} would be detected with {POWER:.0%} power at alpha {alpha:g} "
            "(rough t approximation with the observed SDs).")
    if not reject:
        return Decision("no difference detected", note)
    return Decision("as predicted" if c.sign == predicted else "opposite", note)


def estimate(values, *, log_scale: bool = False, alpha: float = ALPHA) -> NetEstimate:
    """One net's mean ± t CI, or (log_scale) its geometric mean with the CI of the mean log, exponentiated."""
    v = _values(values, log_scale, "values")
    back = np.exp if log_scale else float
    nan = float("nan")
    if len(v) == 0:
        return NetEstimate(nan, nan, nan, 0, log_scale)
    centre = float(v.mean())
    if len(v) == 1:
        return NetEstimate(float(back(centre)), nan, nan, 1, log_scale)
    half = float(stats.t.ppf(1 - alpha / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return NetEstimate(float(back(centre)), float(back(centre - half)), float(back(centre + half)), len(v), log_scale)
