"""The verdict: every explanation of degradation weighed against the runs present.

For one data set and a depth pair (default 20 and 56), four nets: plain and residual (both with
BatchNorm) at each depth, each a condition whose replicates (seeds) are averaged. Each
explanation gets the measured numbers of the four nets (mean ± 95% CI over replicates, t
distribution, n = replicates), what a "yes" would look like, and a verdict written from the
numbers. Two nets "differ" only when their 95% CIs do not overlap (a conservative test); with
one replicate, or without the measurement, the verdict says the evidence is too thin.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .runs import Run, condition_fields

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
        return f"{self.mean:{fmt}} ± {half:.2g} (n={self.n})"


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
class VerdictRow:
    explanation: str
    measure: str
    values: dict[str, Estimate]  # "plain-20", "plain-56", "residual-20", "residual-56" -> estimate
    yes_looks_like: str
    status: str  # supported | not supported | ruled out | not resolved | too thin | not measured
    verdict: str  # one or two sentences written from the numbers


@dataclass(frozen=True)
class Verdict:
    shallow: int
    deep: int
    data: str
    runs: dict[str, list[str]]  # net key -> run ids
    rows: tuple[VerdictRow, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        keys = [f"{n}-{d}" for n in NETS for d in (self.shallow, self.deep)]
        out = []
        for r in self.rows:
            row = {"explanation": r.explanation, "measure": r.measure}
            for k in keys:
                e = r.values.get(k, Estimate(float("nan"), float("nan"), 0))
                row.update({f"{k} mean": e.mean, f"{k} ci95": e.half, f"{k} n": e.n})
            row.update({"yes would look like": r.yes_looks_like, "status": r.status, "verdict": r.verdict})
            out.append(row)
        return pd.DataFrame(out)


def pick_nets(runs: list[Run], shallow: int, deep: int, data: str | None = None) -> tuple[dict[str, list[Run]], str]:
    """The four nets' replicates: cifar family, BatchNorm, no SkipInit/Fixup, finished, one recipe and data set.

    Among the recipes (condition without the model) present, the one that covers most of the four
    nets, then has most runs, is chosen; ``data`` (a fingerprint) restricts to one data set.
    """
    ok = [r for r in runs if r.status == "finished" and r.record.final is not None and r.spec.family == "cifar"
          and r.spec.batchnorm and r.spec.scheme == "none" and r.spec.depth in (shallow, deep)
          and (data is None or r.record.data.fingerprint == data)]
    by_recipe: dict[str, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in ok:  # one recipe: the whole condition but the model's residual switch and depth (shortcut A/B differ)
        recipe = recipe_key(r, ("residual", "depth"))
        by_recipe[recipe][f"{'residual' if r.spec.residual else 'plain'}-{r.spec.depth}"].append(r)
    if not by_recipe:
        return {}, ""
    best = max(by_recipe.values(), key=lambda nets: (len(nets), sum(len(v) for v in nets.values())))
    first = next(iter(best.values()))[0]
    return dict(best), first.record.data.description


def recipe_key(r: Run, free: tuple[str, ...]) -> str:
    """The run's condition as text, without the model fields in ``free`` (what the compared nets may differ in)."""
    f = condition_fields(r.record)
    f["model"] = {k: v for k, v in f["model"].items() if k not in free}
    return json.dumps(f, sort_keys=True, default=str)


def build(runs: list[Run], shallow: int = 20, deep: int = 56, data: str | None = None) -> Verdict:
    """The verdict table for the runs present (see the module doc); measures come from the caches only."""
    from . import verdict_rows
    nets, description = pick_nets(runs, shallow, deep, data)
    rows = verdict_rows.rows(nets, shallow, deep) if nets else ()
    return Verdict(shallow, deep, description, {k: [r.id for r in v] for k, v in nets.items()}, tuple(rows))
