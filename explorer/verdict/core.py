"""The verdict: every explanation of degradation weighed against the runs present.

For one data set and a depth pair (default 20 and 56), four nets: plain and residual (both with
BatchNorm) at each depth, each a condition whose replicates (seeds) are averaged. Each
explanation gets the measured numbers of the four nets (mean ± 95% CI over replicates, t
distribution, n = replicates), what a "yes" would look like, and a verdict written from the
numbers. Each row tests the two contrasts its explanation predicts (explorer.verdict.rows), Welch
with Holm's correction over the page; with one replicate, or without the measurement, the verdict
says the evidence is too thin or not measured.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from ..runs import Run
from ..runs import did_not_train
from .estimates import NETS, VerdictRow, recipe_key  # noqa: F401 (re-exported)
from .init_summary import load_sweep
from .rows import rows as verdict_rows

@dataclass(frozen=True)
class Verdict:
    shallow: int
    deep: int
    data: str
    runs: dict[str, list[str]]  # net key -> run ids
    rows: tuple[VerdictRow, ...] = field(default=())
    untrained: dict[str, list[str]] = field(default_factory=dict)  # net key -> runs that did not train (left out)
    sweep_note: str = ""  # why the rows at initialisation have no values, when they have none

    def to_frame(self) -> pd.DataFrame:
        keys = [f"{n}-{d}" for n in NETS for d in (self.shallow, self.deep)]
        nan = float("nan")
        out = []
        for r in self.rows:
            row = {"explanation": r.explanation, "time": r.time, "measure": r.measure, "status": r.status,
                   "measurement noise": r.noise}
            for c in r.contrasts:  # both contrasts of the row, values first
                name, st = f"{c.a} vs {c.b}", c.stats
                row.update({f"{name}: {'ratio' if st is not None and st.log_scale else 'difference'}":
                            nan if st is None else st.diff,
                            f"{name}: 95% CI low": nan if st is None else st.ci_low,
                            f"{name}: 95% CI high": nan if st is None else st.ci_high,
                            f"{name}: Welch p": nan if st is None else st.p, f"{name}: Holm p": c.holm_p,
                            f"{name}: Hedges g": nan if st is None else st.effect,
                            f"{name}: predicted": "higher" if c.predicted > 0 else "lower", f"{name}: outcome": c.outcome})
            for k in keys:
                e = r.values.get(k)
                row.update({f"{k} mean": nan if e is None else e.centre, f"{k} 95% CI low": nan if e is None else e.ci_low,
                            f"{k} 95% CI high": nan if e is None else e.ci_high, f"{k} n": 0 if e is None else e.n})
            row.update({"yes would look like": r.yes_looks_like, "cannot show": r.caveat, "verdict": r.verdict})
            out.append(row)
        return pd.DataFrame(out)


def pick_nets(runs: list[Run], shallow: int, deep: int, data: str | None = None) -> tuple[dict[str, list[Run]], str]:
    """:func:`candidates`, without the runs that did not train (:func:`explorer.runs.did_not_train`)."""
    nets, description = candidates(runs, shallow, deep, data)
    nets = {k: [r for r in v if not did_not_train(r)] for k, v in nets.items()}
    return {k: v for k, v in nets.items() if v}, description


def candidates(runs: list[Run], shallow: int, deep: int, data: str | None = None) -> tuple[dict[str, list[Run]], str]:
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


def build(runs: list[Run], shallow: int = 20, deep: int = 56, data: str | None = None) -> Verdict:
    """The verdict table for the runs present (see the module doc); measures come from the caches only."""
    every, description = candidates(runs, shallow, deep, data)
    nets = {k: [r for r in v if not did_not_train(r)] for k, v in every.items()}
    untrained = {k: [r.id for r in v if did_not_train(r)] for k, v in every.items()}
    sweep, note = None, ""
    try:
        sweep = load_sweep()
        note = "" if sweep is not None else "the initialisation sweep (checkpoints/studies/init_sweep.csv) is not here"
    except ValueError as e:
        note = str(e)
    rows = verdict_rows(nets, shallow, deep, sweep) if nets else ()
    return Verdict(shallow, deep, description, {k: [r.id for r in v] for k, v in nets.items() if v}, tuple(rows),
                   {k: v for k, v in untrained.items() if v}, note)
