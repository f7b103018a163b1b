"""The rows of the verdict (explorer.verdict.core): one measure a row, read from the caches, and its test.

An explanation of degradation predicts a pattern, so each row tests the two contrasts it predicts on
its measure: the deep plain net against the shallow plain net, and against the deep residual net,
each in the direction the explanation predicts (``Prediction``). Each contrast is a Welch test of
the difference of the nets' means over replicates (on the log scale for positive ratios), Holm-adjusted
over every explanation's contrasts on the page (:mod:`explorer.verdict.contrast`); the effect itself
(degradation) is the premise and is tested apart, Holm over its own two contrasts. A row is "supported" when both
contrasts are significant in the predicted direction, "ruled out" when one is significant the other
way, and otherwise "not resolved", with the difference the test could have seen (STATUS_MEANING).
Every measure is defined where it is computed (:mod:`explorer.verdict.measures` names where); the time
point of each row is the one its paper names. A row "at initialisation" takes its values from the
initialisation sweep (:mod:`explorer.studies.init_measures`, 20 initialisations a net, shipped in
checkpoints/studies/): no training is needed there, so n is large; the other rows' replicates are the
runs' seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..runs import Run
from . import measures as m
from .contrast import contrast, decide, estimate, holm
from ..studies.init_measures import POINTS
from .estimates import RowContrast, VerdictRow

THIN = "too thin"
CONSISTENT = "consistent, not diagnostic"


def net_text(e, fmt: str = ".3g") -> str:
    """A net's value as the page and the report show it: mean (or geometric mean) with its 95% CI and n."""
    if e is None or e.n == 0:
        return "not measured"
    what = "geo. mean " if e.log_scale else ""
    if e.n == 1:
        return f"{what}{e.centre:{fmt}} (n=1)"
    return f"{what}{e.centre:{fmt}} (95% CI {e.ci_low:{fmt}} to {e.ci_high:{fmt}}, n={e.n})"


@dataclass(frozen=True)
class Prediction:
    """What an explanation predicts on one measure: the sign of deep plain - shallow plain and of deep plain -
    deep residual (+1 higher, -1 lower), the time point, the scale of the test, and what the row cannot show.
    The values come from each run (``fn``) or, for a row of the initialisation sweep, from the sweep's
    initialisations of each net (``sweep``: the measure's name in :mod:`explorer.studies.init_measures`)."""

    explanation: str
    measure: str
    fn: Callable[[Run], float] | None
    vs_shallow: int
    vs_residual: int
    yes: str  # the pattern a yes would show
    time: str = "after training"
    log_scale: bool = False
    caveat: str = ""
    family: str = "explanations"  # Holm's family: the effect itself is tested apart from its explanations
    diagnostic: bool = True  # False: the pattern may be a consequence of the worse fit, so a yes is "consistent"
    sweep: str = ""
    noise: Callable[[list[Run]], float] | None = None  # the median within-run spread of the measurement
    noise_what: str = "std over a run's CV shuffles"


SWEEP_TIME = "at initialisation (the sweep: 20 a net)"  # probe set, BatchNorm on the batch's statistics


def predictions(P: str, Ps: str, R: str) -> list[Prediction]:
    cons = ("consistent with lost information but also a consequence of the worse fit: not diagnostic of a cause; "
            "the 500 probe images' own sampling error (about 2 points of accuracy) is common to every net and not in "
            "the noise shown")
    late = "after the fit is decided: a symptom, not shown to be a cause"
    fit = ("at the trained weights, so confounded by the fit itself (plain-56 ends at a higher loss) and, with "
           "BatchNorm, by the scale of the weights: not shown to be a cause")
    init = ("at initialisation only: whether the early steps then remove it is not measured; the gradient ratio, the "
            "rank and the shattering of plain nets with BatchNorm may be one phenomenon (Yang et al. 2019: BatchNorm "
            "makes the gradients of deep plain nets explode at initialisation)")
    grads = ("the two tensors differ in size (the first block's has 4 times the elements a image), so a ratio of 2 "
             "means equal gradients per element; the contrasts compare like with like")
    return [
        Prediction("degradation (the effect to explain)", "test error, %", m.test_error, +1, +1,
                   f"{P} errs more than {Ps} and than {R}", family="effect",
                   caveat="the premise, tested on its own (Holm over its two contrasts), not one of the explanations; "
                          "at this training budget degradation cannot be told apart from slower convergence"),
        Prediction("overfitting", "train error (clean, eval mode), %", m.train_error, -1, -1,
                   f"{P} fits its training set better than {Ps} and {R} (and generalises worse)"),
        Prediction("vanishing gradients", "‖∂loss/∂block output‖, first / last block", None, -1, -1,
                   f"{P}'s ratio below {Ps}'s and {R}'s (the gradient shrinks towards the input)", time=SWEEP_TIME,
                   log_scale=True, sweep="grad_ratio",
                   caveat=f"one test with the exploding row (the same measure, predicted the other way); {grads}"),
        Prediction("exploding gradients", "‖∂loss/∂block output‖, first / last block", None, +1, +1,
                   f"{P}'s ratio above {Ps}'s and {R}'s (the gradient grows towards the input)", time=SWEEP_TIME,
                   log_scale=True, sweep="grad_ratio", caveat=f"{init}; {grads}"),
        Prediction("vanishing gradients", "stage0 / last-stage mean |grad|, late training", m.grad_ratio, -1, -1,
                   f"{P}'s ratio below {Ps}'s and {R}'s", log_scale=True, caveat=f"late in training, {late}",
                   diagnostic=False),
        Prediction("lost class information", "last-stage LDA accuracy (5-fold CV, mean of 5 shuffles), fraction",
                   m.cv_mean("lda_accuracy"), -1, -1, f"{P}'s last stage separates the classes less than {Ps}'s "
                   f"and {R}'s", caveat=cons, noise=lambda rs: m.cv_within("lda_accuracy", rs), diagnostic=False),
        Prediction("lost class information", "last-stage usable information (lower bound, mean of 5 CV shuffles), "
                   "bits", m.cv_mean("mi_probe_bits"), -1, -1, f"{P} below {Ps} and {R}", caveat=cons,
                   noise=lambda rs: m.cv_within("mi_probe_bits", rs), diagnostic=False),
        Prediction("ensembles of shallow paths", "share of the above-chance probe accuracy lost with one block deleted "
                   "(median over blocks)", m.lesion_share, +1, +1,
                   f"{P} loses a larger share than {Ps} and {R}: lesion sensitivity tracks degradation", diagnostic=False,
                   caveat="Veit et al. predict only the residual contrast (residual nets survive lesions); a plain net "
                          "falls to chance with any block deleted, at any depth, so the plain-20 contrast cannot "
                          "separate them, and robustness to lesions does not by itself say why a deep plain net "
                          "trains worse"),
        Prediction("rank collapse", "stable rank (centred) of the last block's output", None, -1, -1,
                   f"{P}'s rank below {Ps}'s and {R}'s", time=SWEEP_TIME, log_scale=True, sweep="stable_rank",
                   caveat=f"{init}; Daneshmand et al. 2020 argue BatchNorm prevents rank collapse, and every net here "
                          "has BatchNorm: read it as the rank falling with depth, less with BatchNorm than without (the "
                          "sweep), not as a collapse to rank 1; the stable rank (set by the top singular value, mean removed) "
                          "is not the paper's own measure"),
        Prediction("shattered gradients", f"lag-1 correlation of input gradients along a line (1/{POINTS - 1} of it)",
                   None, -1, -1, f"{P}'s gradients less correlated than {Ps}'s and {R}'s", time=SWEEP_TIME,
                   sweep="lag1", caveat=f"{init}; plain nets with BatchNorm sit at the floor (about 0) from depth 32"),
        Prediction("shattered gradients", "correlation length of input gradients, fraction of a line", m.corr_length,
                   -1, -1, f"{P}'s shorter than {Ps}'s and {R}'s", log_scale=True, diagnostic=False,
                   caveat="on trained nets, not where the paper places the claim: for comparison only"),
        Prediction("loss-surface roughness", "Hessian's largest eigenvalue λmax (training subset, eval-mode BN)",
                   m.hessian_top, +1, +1, f"{P} sharper than {Ps} and {R}", log_scale=True, caveat=fit,
                   diagnostic=False),
        Prediction("loss-surface roughness", "Hessian's trace (Hutchinson, 10 samples)", m.hessian_trace, +1, +1,
                   f"{P} above {Ps} and {R}", log_scale=True, caveat=fit, diagnostic=False,
                   noise=m.trace_within, noise_what="standard error of a run's Hutchinson estimate"),
        Prediction("loss-surface roughness", "Li et al.'s max(0, -λmin) / λmax (non-convexity; a lower bound, 30 "
                   "Lanczos steps)", m.hessian_ratio, +1, +1, f"{P} above {Ps} and {R}", diagnostic=False,
                   caveat=f"at the trained point only (Li et al. map it over a region), and a lower bound whose "
                          f"tightness depends on each net's spectrum near zero; {fit}"),
    ]


def sweep_values(sweep: pd.DataFrame | None, measure: str, nets) -> dict[str, list[float]]:
    """The sweep's initialisations of each net named in ``nets`` ("plain-56": depth 56, no shortcuts, BatchNorm)
    for one measure: every net of the verdict, whether or not a trained run of it exists."""
    out: dict[str, list[float]] = {}
    if sweep is None:
        return out
    rows = sweep[(sweep["measure"] == measure) & (sweep["block"] == -1) & (sweep["batchnorm"].astype(bool))]
    for key in nets:
        kind, depth = key.rsplit("-", 1)
        v = rows[(rows["depth"] == int(depth)) & (rows["residual"].astype(bool) == (kind == "residual"))]["value"]
        out[key] = [float(x) for x in v]
    return out


def _values(nets: dict[str, list[Run]], p: Prediction, sweep, depths: tuple[int, int]) -> dict[str, list[float]]:
    keys = [f"{kind}-{d}" for kind in ("plain", "residual") for d in depths]
    raw = sweep_values(sweep, p.sweep, keys) if p.sweep else {k: [p.fn(r) for r in rs] for k, rs in nets.items()}
    return {k: [x for x in v if np.isfinite(x) and (x > 0 or not p.log_scale)] for k, v in raw.items()}


def rows(nets: dict[str, list[Run]], s: int, d: int, sweep: pd.DataFrame | None = None) -> list[VerdictRow]:
    """Every row of the verdict for the four nets (see the module doc); ``sweep``: the initialisation sweep."""
    P, Ps, R = f"plain-{d}", f"plain-{s}", f"residual-{d}"
    preds = predictions(P, Ps, R)
    raw = [_values(nets, p, sweep, (s, d)) for p in preds]
    tests = []  # (row, b, predicted, Contrast or None)
    for i, (p, v) in enumerate(zip(preds, raw)):
        for b, sign in ((Ps, p.vs_shallow), (R, p.vs_residual)):
            c = contrast(v[P], v[b], log_scale=p.log_scale) if v.get(P) and v.get(b) else None
            tests.append((i, b, sign, c))
    tested = [c.p if c is not None and not c.thin else float("nan") for _, _, _, c in tests]
    # one test a (measure, contrast): two rows that read one measure with opposite predictions share their test
    keys = [(preds[i].sweep or preds[i].measure, b) for i, b, _, _ in tests]
    adjusted, reject, size = [float("nan")] * len(tests), [False] * len(tests), [1] * len(tests)
    for fam in dict.fromkeys(p.family for p in preds):  # Holm within each family (every explanation's contrasts)
        idx = [j for j, (i, _, _, _) in enumerate(tests) if preds[i].family == fam]
        unique = list(dict.fromkeys(keys[j] for j in idx))
        first = {k: next(j for j in idx if keys[j] == k) for k in unique}
        # the family is fixed in advance: a planned contrast not testable yet counts as p = 1, so that a
        # measurement arriving later cannot turn a decision already shown into another by growing the family
        h = holm([tested[first[k]] if np.isfinite(tested[first[k]]) else 1.0 for k in unique])
        for j in idx:
            u = unique.index(keys[j])
            if np.isfinite(tested[j]):
                adjusted[j], reject[j] = h.adjusted[u], h.reject[u]
            size[j] = len(unique)
    out = []
    for i, p in enumerate(preds):
        cs = []
        for j, (row, b, sign, c) in enumerate(tests):
            if row != i:
                continue
            if c is None:
                cs.append(RowContrast(P, b, sign, None, float("nan"), "not measured", ""))
                continue
            dec = decide(c, sign, reject[j], alpha=0.05 / size[j])
            cs.append(RowContrast(P, b, sign, c, adjusted[j], dec.outcome, dec.note))
        values = {k: estimate(v, log_scale=p.log_scale) for k, v in raw[i].items()}
        status, text = _status(p, cs, values)
        out.append(VerdictRow(p.explanation, p.measure, values, p.yes, status, text, p.time, tuple(cs), p.caveat,
                              _noise(p, nets, raw[i])))
    return out


def _noise(p: Prediction, nets: dict[str, list[Run]], raw: dict[str, list[float]]) -> str:
    """The measurement's own spread within a run beside the spread across replicates (median over the nets)."""
    if p.noise is None:
        return ""
    within = p.noise([r for rs in nets.values() for r in rs])
    across = [float(np.std(v, ddof=1)) for v in raw.values() if len(v) > 1]
    if not np.isfinite(within) or not across:
        return ""
    return (f"measurement noise: {p.noise_what} {within:.3g} (median over runs), beside the std "
            f"across replicates {float(np.median(across)):.3g} (median over nets); the test uses each run's estimate")


def _contrast_text(c: RowContrast) -> str:
    if c.stats is None:
        return f"{c.a} vs {c.b}: not measured"
    st = c.stats
    if st.thin:
        return f"{c.a} vs {c.b}: too thin (n = {st.n_a}, {st.n_b})"
    what = "ratio" if st.log_scale else "difference"
    return (f"{c.a} vs {c.b}: {what} {st.diff:.3g} (95% CI {st.ci_low:.3g} to {st.ci_high:.3g}, unadjusted), "
            f"Holm p = {c.holm_p:.2g}, {c.outcome}")


def _status(p: Prediction, cs: list[RowContrast], values) -> tuple[str, str]:
    outcomes = [c.outcome for c in cs]
    nums = "; ".join(_contrast_text(c) for c in cs)
    tail = f" What this row cannot show: {p.caveat}." if p.caveat else ""
    if "not measured" in outcomes:
        missing = [c.b if c.stats is None and values.get(c.a) and values[c.a].n else c.a for c in cs
                   if c.outcome == "not measured"]
        return "not measured", f"No {', '.join(dict.fromkeys(missing))} run has this measurement yet.{tail}"
    if "opposite" in outcomes:
        against = [f"{c.a} vs {c.b}" for c in cs if c.outcome == "opposite"]
        which = (f"The {against[0]} contrast goes" if len(against) == 1 else
                 f"Both contrasts ({' and '.join(against)}) go")
        return "ruled out", f"{which} the other way from the prediction ({nums}).{tail}"
    if all(o == "as predicted" for o in outcomes):
        if not p.diagnostic:
            return CONSISTENT, f"Both contrasts go the predicted way ({nums}), but the row cannot tell a cause from a " \
                               f"consequence.{tail}"
        return "supported", f"Both contrasts go the predicted way ({nums}).{tail}"
    if THIN in outcomes:
        return THIN, f"A net has fewer than two replicates ({nums}).{tail}"
    notes = " ".join(dict.fromkeys(c.note for c in cs if c.outcome == "no difference detected"))
    return "not resolved", f"Not every predicted contrast is significant ({nums}). {notes}{tail}"
