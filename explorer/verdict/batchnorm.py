"""BatchNorm's role, tested: residual nets without BatchNorm made trainable by SkipInit or Fixup.

For each depth and recipe that has a SkipInit (De & Smith 2020) or Fixup (Zhang et al. 2019) run:
the same residual net with BatchNorm, without it (default initialisation) and with each scheme,
train and test error in % (mean ± 95% CI over replicates, n), and the share of the no-BN gap to
BatchNorm a scheme closes, (no BN - scheme) / (no BN - BN) in test error.

Two outcomes are results, not missing runs: a run that *diverged* (non-finite loss), and a run that
finished *at chance*: test accuracy within ``CHANCE_MARGIN`` of 1/K, K classes, i.e. a net that
learned nothing it keeps (SkipInit at depth 56 on the subset did this: it learned for four epochs, then
fell to chance). The findings say so in words instead of calling such a net trained.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..runs import Run
from .estimates import Estimate, recipe_key

KINDS = ("BN", "no BN", "no BN + SkipInit", "no BN + Fixup", "no BN + Fixup (simplified)")
CHANCE_MARGIN = 2.0  # percentage points of test accuracy above 1/K still read as "at chance"
COLUMNS = ["depth", "family", "recipe", "net", "test error %", "train error %", "chance test error %",
           "share of the no-BN gap closed", "diverged runs", "at chance runs", "runs"]


@dataclass(frozen=True)
class NetResult:
    """One net of one comparison: errors over its finished runs, and how many diverged or ended at chance."""

    depth: int
    family: str
    recipe: str
    net: str  # one of KINDS
    test: Estimate  # test error, %
    train: Estimate  # clean train error, %
    chance: float  # test error of a constant guess, %: 100 (1 - 1/K)
    diverged: int
    at_chance: int
    run_ids: tuple[str, ...]
    closed: float = float("nan")  # share of the no-BN gap closed (schemes only)

    def error_text(self, e: Estimate) -> str:
        if not self.diverged:
            return e.text(".2f")
        return f"diverged (n={self.diverged})" + ("" if e.n == 0 else f"; finished: {e.text('.2f')}")

    @property
    def learned(self) -> bool:
        """Some run finished, and not every finished run is at chance."""
        return self.test.n > self.at_chance


def results(runs: list[Run]) -> list[NetResult]:
    """Every net of every comparison with a scheme run (see the module doc), in KINDS order."""
    kept = [r for r in runs if r.spec.residual and (r.record.train is None or r.record.train.val is None)
            and (r.status == "diverged" or
                                                     (r.status == "finished" and r.record.final is not None))]
    groups: dict[tuple, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in kept:
        kind = "BN" if r.spec.batchnorm else {"none": "no BN", "skipinit": "no BN + SkipInit",
                                               "fixup": "no BN + Fixup",
                                               "fixup-simplified": "no BN + Fixup (simplified)"}[r.spec.scheme]
        groups[(r.spec.family, r.spec.depth, recipe_key(r, ("batchnorm", "branch_scale", "init")))][kind].append(r)
    out = []
    for (family, depth, _), kinds in groups.items():  # the recipe key holds family and depth too
        if not any(k.startswith("no BN +") for k in kinds):
            continue
        first = next(iter(kinds.values()))[0]
        t = first.record.train
        recipe = f"{t.epochs} ep, lr {t.lr:g}, " + ("all images" if t.subset is None else f"subset {t.subset}")
        classes = len(first.record.data.classes or ())
        chance = 100 * (1 - 1 / classes) if classes else float("nan")  # unknown classes: nothing reads as chance
        nets = {}
        for k in KINDS:
            if k not in kinds:
                continue
            ok = [r for r in kinds[k] if r.status == "finished"]
            test = [100 * (1 - r.record.final.test_acc) for r in ok]
            nets[k] = NetResult(depth, family, recipe, k, Estimate.of(test),
                                Estimate.of([100 * (1 - (r.record.final.clean_train_acc or np.nan)) for r in ok]),
                                chance, len(kinds[k]) - len(ok), sum(e >= chance - CHANCE_MARGIN for e in test),
                                tuple(r.id for r in kinds[k]))
        for k, n in nets.items():
            if k.startswith("no BN +") and "BN" in nets and "no BN" in nets:
                gap = nets["no BN"].test.mean - nets["BN"].test.mean
                if gap > 0:
                    nets[k] = replace(n, closed=(nets["no BN"].test.mean - n.test.mean) / gap)
        out += nets.values()
    return out


def norm_free_table(runs: list[Run]) -> pd.DataFrame:
    """The comparison as a table (one row a net; CSV on the Verdict page, a table in the report)."""
    rows = [{"depth": n.depth, "family": n.family, "recipe": n.recipe, "net": n.net,
             "test error %": n.error_text(n.test), "train error %": n.error_text(n.train),
             "chance test error %": round(n.chance, 2), "share of the no-BN gap closed": n.closed,
             "diverged runs": n.diverged, "at chance runs": n.at_chance, "runs": ", ".join(n.run_ids)}
            for n in results(runs)]
    return pd.DataFrame(rows, columns=COLUMNS)


def findings(runs: list[Run]) -> list[str]:
    """One sentence a scheme run: does the no-BN net trained this way close the gap to BatchNorm?"""
    nets = results(runs)
    out = []
    for s in nets:
        if not s.net.startswith("no BN +"):
            continue
        twins = {n.net: n for n in nets if (n.depth, n.family, n.recipe) == (s.depth, s.family, s.recipe)}
        bn, plain = twins.get("BN"), twins.get("no BN")
        if bn is None:
            continue
        where = f"Depth {s.depth} ({s.recipe}): "
        bn_text = f"{bn.error_text(bn.test)} with BatchNorm"
        if s.test.n == 0:
            out.append(where + f"{s.net} diverged too (n={s.diverged}): it does not make the net trainable at this recipe.")
        elif not s.learned:
            before = "; without BatchNorm the net diverged" if plain and plain.diverged and not plain.learned else ""
            out.append(where + f"{s.net} ended at chance (test error, %: {s.error_text(s.test)}; chance "
                       f"{s.chance:.0f}){before}: at this recipe it does not make the net trainable, so it does not "
                       f"close the gap to BatchNorm ({bn_text}).")
        elif plain and plain.test.n == 0 and plain.diverged:
            above = s.test.mean - bn.test.mean
            result = (f"but does not close the gap: its test error stays {above:.1f} points above BatchNorm's" if above > 0
                      else "and reaches BatchNorm's test error")
            out.append(where + f"without BatchNorm the net diverged at this recipe; {s.net} makes it trainable, "
                       f"{result}{_thin(s, bn)} (test error, %: {s.error_text(s.test)}, against {bn_text}).")
        elif s.closed == s.closed:
            out.append(where + f"{s.net} closes {100 * s.closed:.0f}% of the test-error gap between the no-BN net "
                       f"and BatchNorm{_thin(s, bn, plain)} (test error, %: {s.error_text(s.test)}, against {bn_text} and "
                       f"{plain.error_text(plain.test)} without).")
        elif plain:
            out.append(where + f"without BatchNorm the net is no worse than with it here (test error, %: "
                       f"{plain.error_text(plain.test)} against {bn_text}), so there is no gap for {s.net} to close "
                       f"({s.error_text(s.test)}).")
    return out


def _thin(*nets: NetResult) -> str:
    """The caveat for a comparison without a CI (a net with one finished run)."""
    return " (a net with one run: no 95% CI, so seed noise cannot be ruled out)" \
        if min(n.test.n for n in nets) < 2 else ""
