"""Estimates over replicates and the comparison of two of them; the record of one verdict row."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..runs import Run, condition_fields

NETS = ("plain", "residual")


@dataclass(frozen=True)
class Estimate:
    """Mean ± 95% CI half-width over replicates (half = NaN for fewer than 2), and n."""

    mean: float
    half: float
    n: int

    @classmethod
    def of(cls, values) -> "Estimate":
        from scipy.stats import t as student_t
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        if len(v) == 0:
            return cls(float("nan"), float("nan"), 0)
        if len(v) == 1:
            return cls(float(v[0]), float("nan"), 1)
        return cls(float(v.mean()), float(student_t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))), len(v))

    def text(self, fmt: str = ".3g") -> str:
        if self.n == 0:
            return "not measured"
        if self.n == 1:
            return f"{self.mean:{fmt}} (n=1)"
        half = 0.0 if abs(self.half) <= 1e-9 * max(1.0, abs(self.mean)) else self.half  # rounding noise: 0
        return f"{self.mean:{fmt}} ± {half:.2g} (95% CI, n={self.n})"


def differs(a: Estimate, b: Estimate) -> int | None:
    """-1 / +1 when a's 95% CI lies wholly below / above b's, 0 when they overlap, None when too thin (n < 2)."""
    if a.n < 2 or b.n < 2 or not (np.isfinite(a.half) and np.isfinite(b.half)):
        return None
    if a.mean + a.half < b.mean - b.half:
        return -1
    if a.mean - a.half > b.mean + b.half:
        return 1
    return 0


@dataclass(frozen=True)
class RowContrast:
    """One contrast a row's explanation predicts: net ``a`` against net ``b`` on the row's measure."""

    a: str  # "plain-56"
    b: str  # "plain-20" or "residual-56"
    predicted: int  # +1: the explanation predicts a > b; -1: a < b
    stats: object  # explorer.verdict.contrast.Contrast (Welch), or None when a net has no value
    holm_p: float  # Holm-adjusted p over every contrast of the verdict; NaN when untested
    outcome: str  # as predicted | opposite | no difference detected | too thin | not measured
    note: str  # what the test could see (the difference detectable at these n)


@dataclass(frozen=True)
class VerdictRow:
    explanation: str
    measure: str
    values: dict[str, Estimate]  # "plain-20", "plain-56", "residual-20", "residual-56" -> estimate
    yes_looks_like: str
    status: str  # supported | ruled out | not resolved | too thin | not measured (STATUS_MEANING)
    verdict: str  # sentences written from the numbers
    time: str = "after training"  # or "at initialisation": where the explanation's paper places its claim
    contrasts: tuple[RowContrast, ...] = ()
    caveat: str = ""  # what the row cannot show
    noise: str = ""  # the measurement's spread within a run beside the spread across replicates, where it has one


STATUS_MEANING = {
    "supported": "both contrasts the explanation predicts are significant in the predicted direction (Welch, "
                 "Holm-adjusted over every planned contrast of the explanations on the page, family-wise 0.05, a "
                 "contrast not measured yet counting as p = 1 and one measure's test counted once; the degradation "
                 "row, the premise, over its own two); the 95% CIs shown are each contrast's own, unadjusted",
    "consistent, not diagnostic": "both contrasts are significant in the predicted direction, but the measure may be "
                                  "a consequence of the worse fit rather than its cause (the row says why), so the "
                                  "pattern is consistent with the explanation without singling it out",
    "ruled out": "a contrast is significant in the direction opposite to the prediction",
    "not resolved": "no contrast goes the wrong way, but at least one shows no significant difference at these n",
    "too thin": "a net has fewer than two replicates: no test",
    "not measured": "a net has no run with this measurement",
}


def recipe_key(r: Run, free: tuple[str, ...]) -> str:
    """The run's condition as text, without the model fields in ``free`` (what the compared nets may differ in)."""
    f = condition_fields(r.record)
    f["model"] = {k: v for k, v in f["model"].items() if k not in free}
    return json.dumps(f, sort_keys=True, default=str)
