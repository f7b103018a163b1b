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
from .estimates import RowContrast, VerdictRow

THIN = "too thin"


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
    sweep: str = ""
    noise: Callable[[list[Run]], float] | None = None  # the median within-run spread of the measurement
    noise_what: str = "std over a run's CV shuffles"


SWEEP_TIME = "at initialisation (the sweep: 20 a net)"  # probe set, BatchNorm on the batch's statistics


def predictions(P: str, Ps: str, R: str) -> list[Prediction]:
    cons = "consistent with lost information but also a consequence of the worse fit: not diagnostic of a cause"
    late = "after the fit is decided: a symptom, not shown to be a cause"
    return [
        Prediction("degradation (the effect to explain)", "test error, %", m.test_error, +1, +1,
                   f"{P} errs more than {Ps} and than {R}", family="effect",
                   caveat="the premise, tested on its own (Holm over its two contrasts), not one of the explanations"),
        Prediction("overfitting", "train error (clean, eval mode), %", m.train_error, -1, -1,
                   f"{P} fits its training set better than {Ps} and {R} (and generalises worse)"),
        Prediction("vanishing gradients", "‖∂loss/∂block output‖, first / last block", None, -1, -1,
                   f"{P}'s ratio below {Ps}'s and {R}'s (the gradient shrinks towards the input)", time=SWEEP_TIME,
                   log_scale=True, sweep="grad_ratio",
                   caveat="the same measure as the exploding row, predicted the other way; with BatchNorm only"),
        Prediction("exploding gradients", "‖∂loss/∂block output‖, first / last block", None, +1, +1,
                   f"{P}'s ratio above {Ps}'s and {R}'s (the gradient grows towards the input)", time=SWEEP_TIME,
                   log_scale=True, sweep="grad_ratio",
                   caveat="at initialisation only: whether the early steps then fix it is not measured"),
        Prediction("vanishing gradients", "stage0 / last-stage mean |grad|, late training", m.grad_ratio, -1, -1,
                   f"{P}'s ratio below {Ps}'s and {R}'s", log_scale=True, caveat=f"late in training, {late}"),
        Prediction("lost class information", "last-stage LDA accuracy (5-fold CV, mean of 5 shuffles), fraction",
                   m.cv_mean("lda_accuracy"), -1, -1, f"{P}'s last stage separates the classes less than {Ps}'s "
                   f"and {R}'s", caveat=cons, noise=lambda rs: m.cv_within("lda_accuracy", rs)),
        Prediction("lost class information", "last-stage usable information (lower bound, mean of 5 CV shuffles), "
                   "bits", m.cv_mean("mi_probe_bits"), -1, -1, f"{P} below {Ps} and {R}", caveat=cons,
                   noise=lambda rs: m.cv_within("mi_probe_bits", rs)),
        Prediction("ensembles of shallow paths", "probe accuracy lost with one block deleted (median over blocks), points",
                   m.lesion_drop, +1, +1, f"{P} loses more than {Ps} and {R}: lesion sensitivity tracks degradation",
                   caveat="residual nets being robust to lesions does not by itself say why a deep plain net trains worse"),
        Prediction("rank collapse", "stable rank (centred) of the last block's output", None, -1, -1,
                   f"{P}'s rank below {Ps}'s and {R}'s", time=SWEEP_TIME, log_scale=True, sweep="stable_rank",
                   caveat="a low rank at initialisation need not persist once training starts"),
        Prediction("shattered gradients", "lag-1 correlation of input gradients along a line (1/63 of it)", None, -1, -1,
                   f"{P}'s gradients less correlated than {Ps}'s and {R}'s", time=SWEEP_TIME, sweep="lag1",
                   caveat="Balduzzi et al.'s claim is about initialisation; it does not show the shattering persists"),
        Prediction("shattered gradients", "correlation length of input gradients, fraction of a line", m.corr_length,
                   -1, -1, f"{P}'s shorter than {Ps}'s and {R}'s", log_scale=True,
                   caveat="on trained nets, not where the paper places the claim: for comparison only"),
        Prediction("loss-surface roughness", "Hessian's largest eigenvalue λmax (training subset, eval-mode BN)",
                   m.hessian_top, +1, +1, f"{P} sharper than {Ps} and {R}", log_scale=True,
                   caveat=f"at the trained weights, {late}"),
        Prediction("loss-surface roughness", "Hessian's trace (Hutchinson, 10 samples)", m.hessian_trace, +1, +1,
                   f"{P} above {Ps} and {R}", log_scale=True, caveat=f"at the trained weights, {late}",
                   noise=m.trace_within, noise_what="standard error of a run's Hutchinson estimate"),
        Prediction("loss-surface roughness", "Li et al.'s |λmin / λmax| (non-convexity; a lower bound, 30 Lanczos "
                   "steps)", m.hessian_ratio, +1, +1, f"{P} above {Ps} and {R}", log_scale=True,
                   caveat="at the trained point only (Li et al. map it over a region), and a lower bound: every net "
                          "is searched with the same 30 Lanczos steps, so the bounds are comparable, not exact"),
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
    adjusted, reject, size = [float("nan")] * len(tests), [False] * len(tests), [1] * len(tests)
    for fam in dict.fromkeys(p.family for p in preds):  # Holm within each family (every explanation's contrasts)
        idx = [j for j, (i, _, _, _) in enumerate(tests) if preds[i].family == fam]
        h = holm([tested[j] for j in idx])
        n_tested = sum(np.isfinite(tested[j]) for j in idx)
        for j, q, rej in zip(idx, h.adjusted, h.reject):
            adjusted[j], reject[j], size[j] = q, rej, max(1, n_tested)
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
    return (f"{c.a} vs {c.b}: {what} {st.diff:.3g} (95% CI {st.ci_low:.3g} to {st.ci_high:.3g}), "
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
        return "supported", f"Both contrasts go the predicted way ({nums}).{tail}"
    if THIN in outcomes:
        return THIN, f"A net has fewer than two replicates ({nums}).{tail}"
    notes = " ".join(dict.fromkeys(c.note for c in cs if c.outcome == "no difference detected"))
    return "not resolved", f"Not every predicted contrast is significant ({nums}). {notes}{tail}"
