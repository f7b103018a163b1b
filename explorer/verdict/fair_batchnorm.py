"""BatchNorm's role, tested fairly (checkpoints/batchnorm_study.py trains it): at one depth, BN, no BN,
no BN + SkipInit and no BN + Fixup, each at the learning rate its sweep chose on a validation split
held out of the training images (the test set chooses nothing), three seeds each.

* :func:`sweep`: the sweep's runs (the shorter budget), final validation error per net and rate;
* :func:`chosen_rates`: per net, the rate of lowest final validation error (a diverged run is worst);
* :func:`compare`: per net at its chosen rate and the full budget, test error (mean and 95% t CI over
  seeds), and for each scheme its contrast with no BN (predicted: lower) and with BN (Welch, Holm over
  every contrast of the section) and the share of the no-BN gap it closes,
  (no BN - scheme) / (no BN - BN), with a bootstrap interval over seeds (each net's seeds resampled
  with replacement, 2,000 resamples, percentile 95%; with n = 3 a rough interval, said so).

A study run is a cifar-family residual net trained on all images minus a validation split
(``train.val`` set); the sweep's runs have ``SWEEP_EPOCHS`` epochs, the comparison's ``FULL_EPOCHS``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..runs import Run, RunError
from .contrast import Contrast, NetEstimate, contrast, decide, estimate, holm

NETS = ("BN", "no BN", "no BN + SkipInit", "no BN + Fixup")
SCHEMES = NETS[2:]
BOOTSTRAP = {"resamples": 2000, "seed": 0}
SWEEP_RATES = (0.1, 0.05, 0.02)
SWEEP_EPOCHS = 5  # the sweep's shorter budget (cosine over 5 epochs, one warm-up epoch)
FULL_EPOCHS = 20  # the zoo's shared recipe
# What still differs from the papers' recipes, each with its reason (explorer.models documents the schemes).
DEVIATIONS = (
    "No weight decay on Fixup's scalar biases and multipliers (its reference code decays every parameter): the "
    "shared recipe decays conv and linear weights only, as it leaves BatchNorm's scale and shift undecayed, so "
    "that the nets differ in how they replace normalisation and in nothing else.",
    "No mixup (Fixup's reference trains with it): a regulariser, not part of what makes a net trainable; all four "
    "nets train without it.",
    "20 epochs instead of Fixup's 200, a cosine schedule after one warm-up epoch instead of its steps (rate / 10 "
    "at epochs 100 and 150), Nesterov momentum 0.9 instead of plain: the zoo's shared recipe and budget on a CPU; "
    "every net has the same one, the sweep 5 epochs of it (batch 128 throughout).",
    "bf16 autocast for every net (1.6 times fp32's throughput for resnet20 here, bench/train_speed.py): before any "
    "run, the study's precision check found each net's first-epoch training loss in bf16 within 0.05 nats of "
    "fp32's and no net diverging in one precision only.",
    "The option-A shortcut pads its zero channels on both sides rather than after: the same net up to the order "
    "of channels.",
)


def net_of(r: Run) -> str | None:
    if r.spec.batchnorm:
        return "BN" if r.spec.scheme == "none" else None
    return {"none": "no BN", "skipinit": "no BN + SkipInit", "fixup": "no BN + Fixup"}.get(r.spec.scheme)


def study_runs(runs: list[Run], depth: int = 20) -> list[Run]:
    return [r for r in runs if r.record.train is not None and r.record.train.val is not None and r.spec.residual
            and r.spec.family == "cifar" and r.spec.depth == depth and r.record.train.subset is None
            and net_of(r) is not None and r.status in ("finished", "diverged")]


def _val_error(r: Run) -> float:
    """Final validation error in %, infinite for a run that diverged or has no validation score."""
    if r.status != "finished":
        return math.inf
    try:
        hist = r.history()
    except (RunError, OSError):  # a history that cannot be read has no validation score
        return math.inf
    acc = hist[-1].get("val_acc") if hist else None
    return math.inf if acc is None or not math.isfinite(acc) else 100 * (1 - acc)


def sweep(runs: list[Run], depth: int = 20) -> pd.DataFrame:
    """One row a (net, rate) of the sweep: final validation error % (inf: diverged), epochs, run ids."""
    rows = [{"net": net_of(r), "lr": r.record.train.lr, "epochs": SWEEP_EPOCHS, "val error %": _val_error(r),
             "status": r.status, "run": r.id} for r in study_runs(runs, depth) if r.record.train.epochs == SWEEP_EPOCHS]
    return pd.DataFrame(rows, columns=["net", "lr", "epochs", "val error %", "status", "run"])


def chosen_rates(runs: list[Run], depth: int = 20) -> dict[str, float]:
    """Per net whose sweep has every rate of SWEEP_RATES, the rate of lowest final validation error (ties: the
    larger rate); a net with part of its sweep has no chosen rate yet."""
    sw = sweep(runs, depth)
    out = {}
    for net, g in sw.groupby("net"):
        if not set(SWEEP_RATES) <= set(g["lr"]):
            continue
        g = g.groupby("lr", as_index=False)["val error %"].mean().sort_values(["val error %", "lr"],
                                                                              ascending=[True, False])
        out[net] = float(g["lr"].iloc[0])
    return out


@dataclass(frozen=True)
class SchemeResult:
    net: str
    lr: float
    test: NetEstimate  # test error %, over finished seeds
    diverged: int
    run_ids: tuple[str, ...]
    vs_no_bn: Contrast | None = None  # scheme - no BN (predicted < 0)
    vs_bn: Contrast | None = None  # scheme - BN
    closed: float = float("nan")  # share of the no-BN gap closed
    closed_ci: tuple[float, float] = (float("nan"), float("nan"))
    outcome_no_bn: str = ""
    outcome_bn: str = ""
    note: str = ""


def _errors(rs: list[Run]) -> list[float]:
    return [100 * (1 - r.record.final.test_acc) for r in rs if r.status == "finished" and r.record.final is not None]


def share_closed(no_bn, bn, scheme) -> float:
    gap = np.mean(no_bn) - np.mean(bn)
    return float((np.mean(no_bn) - np.mean(scheme)) / gap) if gap > 0 else float("nan")


def bootstrap_share(no_bn, bn, scheme, resamples: int = BOOTSTRAP["resamples"], seed: int = BOOTSTRAP["seed"]):
    """Percentile 95% interval of :func:`share_closed` with each net's seeds resampled with replacement."""
    if min(len(no_bn), len(bn), len(scheme)) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    pick = [lambda v: rng.choice(np.asarray(v, float), len(v), replace=True)] * 3
    vals = [share_closed(pick[0](no_bn), pick[1](bn), pick[2](scheme)) for _ in range(resamples)]
    vals = np.asarray([v for v in vals if np.isfinite(v)])
    if len(vals) < resamples / 2:  # the gap vanished in most resamples: no interval
        return float("nan"), float("nan")
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def compare(runs: list[Run], depth: int = 20) -> list[SchemeResult]:
    """Every net of the study at its chosen rate and the full budget (see the module doc), in NETS order."""
    rs = study_runs(runs, depth)
    rates = chosen_rates(runs, depth)
    full = {n: [r for r in rs if net_of(r) == n and r.record.train.epochs == FULL_EPOCHS
                and math.isclose(r.record.train.lr, rates.get(n, 0.1))] for n in NETS}
    errs = {n: _errors(v) for n, v in full.items()}
    base = {n: SchemeResult(n, rates.get(n, 0.1), estimate(errs[n]), sum(r.status == "diverged" for r in full[n]),
                            tuple(r.id for r in full[n])) for n in NETS if full[n]}
    pairs = [(s, other) for s in SCHEMES if s in base for other in ("no BN", "BN") if other in base]
    cs = {(s, o): contrast(errs[s], errs[o]) for s, o in pairs}
    h = holm([c.p for c in cs.values()])
    reject = dict(zip(cs, h.reject))
    out = []
    for n, res in base.items():
        if n in SCHEMES:
            kw = {}
            for o, field, predicted in (("no BN", "vs_no_bn", -1), ("BN", "vs_bn", 1)):
                if (n, o) in cs:
                    c = cs[(n, o)]
                    d = decide(c, predicted, reject[(n, o)])
                    kw[field] = c
                    kw["outcome_" + ("no_bn" if o == "no BN" else "bn")] = d.outcome
                    kw["note"] = d.note
            if all(errs.get(k) for k in ("no BN", "BN", n)):  # a net whose every seed diverged closes no share
                kw["closed"] = share_closed(errs["no BN"], errs["BN"], errs[n])
                kw["closed_ci"] = bootstrap_share(errs["no BN"], errs["BN"], errs[n])
            res = SchemeResult(**{**res.__dict__, **kw})
        out.append(res)
    return out


def seed_errors(runs: list[Run], depth: int = 20, results: list[SchemeResult] | None = None) -> pd.DataFrame:
    """Test error % of each finished seed of the comparison (the dots of its chart); ``results``: :func:`compare`'s,
    when the caller has them (the bootstrap is not redone)."""
    rows = [{"net": r.net, "seed": run.seed, "test error %": 100 * (1 - run.record.final.test_acc), "run": run.id}
            for r in (compare(runs, depth) if results is None else results) for run in runs if run.id in r.run_ids and run.status == "finished"
            and run.record.final is not None]
    return pd.DataFrame(rows, columns=["net", "seed", "test error %", "run"])


def table(runs: list[Run], depth: int = 20, results: list[SchemeResult] | None = None) -> pd.DataFrame:
    """The comparison as a table (the Verdict page's CSV and the report)."""
    rows = []
    for r in compare(runs, depth) if results is None else results:
        t = r.test
        rows.append({"net": r.net, "lr": r.lr, "lr from": "fixed (the reference)" if r.net == "BN" else "its sweep",
                     "test error % (mean)": t.centre, "95% CI low": t.ci_low,
                     "95% CI high": t.ci_high, "n": t.n, "diverged": r.diverged,
                     "scheme - no BN (Welch, points)": None if r.vs_no_bn is None else r.vs_no_bn.diff,
                     "vs no BN, Holm": r.outcome_no_bn or None,
                     "scheme - BN (Welch, points)": None if r.vs_bn is None else r.vs_bn.diff,
                     "vs BN, Holm": r.outcome_bn or None,
                     "share of the no-BN gap closed": r.closed, "share CI low (bootstrap)": r.closed_ci[0],
                     "share CI high (bootstrap)": r.closed_ci[1], "runs": ", ".join(r.run_ids)})
    return pd.DataFrame(rows)


def _ci(e: NetEstimate) -> str:
    if e.n == 0:
        return "no finished run"
    if e.n == 1:
        return f"{e.centre:.2f}% (n = 1, no CI)"
    return f"{e.centre:.2f}% (95% CI {e.ci_low:.2f} to {e.ci_high:.2f}, n = {e.n})"


def sentences(runs: list[Run], depth: int = 20, results: list[SchemeResult] | None = None) -> list[str]:
    """The section in words: the sweep's choice, then each scheme against no BN and BN (empty without a study)."""
    sw = sweep(runs, depth)
    out = []
    if not sw.empty:
        rates = chosen_rates(runs, depth)
        parts = []
        for net in (n for n in NETS if n in set(sw["net"])):  # in the section's order
            g = sw[sw["net"] == net]
            vals = ", ".join(f"lr {r.lr:g}: " + ("diverged" if not math.isfinite(r._4) else f"{r._4:.1f}%")
                             for r in g.sort_values("lr", ascending=False).itertuples())
            choice = (f"chosen {rates[net]:g}" if net in rates else
                      f"no choice until all {len(SWEEP_RATES)} rates have finished")
            parts.append(f"{net} ({vals}; {choice})")
        out.append(f"Learning-rate sweep ({int(sw['epochs'].iloc[0])} epochs, seed 0, final validation error on "
                   f"the held-out split): " + "; ".join(parts) + ".")
    res = {r.net: r for r in (compare(runs, depth) if results is None else results)}
    for s in SCHEMES:
        r = res.get(s)
        if r is None:
            continue
        text = f"{s} at lr {r.lr:g}: test error {_ci(r.test)}"
        for c, outcome, other in ((r.vs_no_bn, r.outcome_no_bn, "no BN"), (r.vs_bn, r.outcome_bn, "BN")):
            if c is not None and other in res:
                test = (f"Welch 95% CI {c.ci_low:+.2f} to {c.ci_high:+.2f}; Holm-adjusted outcome: {outcome}"
                        if math.isfinite(c.ci_low) else "no test: a net needs 2 seeds at least")
                text += f"; against {other} ({_ci(res[other].test)}) a difference of {c.diff:+.2f} points ({test})"
        if math.isfinite(r.closed):
            lo, hi = r.closed_ci
            fewest = min(r.test.n, res["no BN"].test.n, res["BN"].test.n)
            band = f", bootstrap 95% interval {lo:.0%} to {hi:.0%} (seeds resampled; rough with {fewest} a net)" \
                if math.isfinite(lo) else ""
            if not band:
                one = min(r.test.n, res["no BN"].test.n, res["BN"].test.n) < 2
                band = " (no interval: " + ("one seed a net)" if one else "the gap vanished in most resamples)")
            text += f"; it closes {r.closed:.0%} of the no-BN gap{band}"
        out.append(text + ".")
    return out
