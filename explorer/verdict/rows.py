"""The rows of the verdict (explorer.verdict.core): one measure a row, read from the caches, and its test.

An explanation of degradation predicts a pattern, so each row tests the two contrasts it predicts on
its measure: the deep plain net against the shallow plain net, and against the deep residual net,
each in the direction the explanation predicts (``Prediction``). Each contrast is a Welch test of
the difference of the nets' means over replicates (on the log scale for positive ratios), Holm-adjusted
over every explanation's contrasts on the page (:mod:`explorer.verdict.contrast`); the effect itself
(degradation) is the premise and is tested apart, Holm over its own two contrasts. A row is "supported" when both
contrasts are significant in the predicted direction, "ruled out" when one is significant the other
way, and otherwise "not resolved", with the difference the test could have seen (STATUS_MEANING).
Every measure is defined where it is computed (the docstrings named below); the time point of each
row is the one its paper names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..runs import Run
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


def _safe(f: Callable[[Run], float]) -> Callable[[Run], float]:
    def g(run: Run) -> float:
        try:
            v = f(run)
            return float("nan") if v is None else float(v)
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            return float("nan")
    return g


@_safe
def train_error(r: Run) -> float:
    return 100 * (1 - r.record.final.clean_train_acc)


@_safe
def test_error(r: Run) -> float:
    return 100 * (1 - r.record.final.test_acc)


@_safe
def grad_ratio(r: Run) -> float:
    from ..analysis.gradients import late_ratio  # stage0 / last stage, median over the last 10% of steps
    return late_ratio(r)


def last_stage(metric: str) -> Callable[[Run], float]:
    @_safe
    def f(r: Run) -> float:
        from ..analysis.table import analyze_run
        t = analyze_run(r, cached_only=True)
        t = t[t["metric"] == metric].sort_values("stage")
        return t["value"].iloc[-1]
    return f


def _mech(r: Run, kind: str):
    from ..studies.catalog import study_table
    return study_table(r, kind, cached_only=True)


@_safe
def lesion_drop(r: Run) -> float:
    """Probe accuracy lost (points) with one block deleted: intact minus the median over the deletable blocks."""
    t = _mech(r, "lesion")
    s = t[(t["view"] == "single") & t["deletable"].astype(bool)]
    return 100 * (float(s["baseline_accuracy"].iloc[0]) - float(np.median(s["accuracy"])))


def _signal(r: Run, weights: str):
    t = _mech(r, "signal")
    return t[t["weights"] == weights]


@_safe
def rank_at_init(r: Run) -> float:
    return _signal(r, "init")["stable_rank_centred"].iloc[-1]  # the last block's output


@_safe
def grad_first_last(r: Run) -> float:
    s = _signal(r, "trained")
    s = s[s["block"] != "stem"]
    return float(s["grad_norm"].iloc[0]) / float(s["grad_norm"].iloc[-1])


@_safe
def grad_first_last_init(r: Run) -> float:
    """The same ratio at the run's own initial weights (BatchNorm with the batch's statistics)."""
    s = _signal(r, "init")
    s = s[s["block"] != "stem"]
    return float(s["grad_norm"].iloc[0]) / float(s["grad_norm"].iloc[-1])


@_safe
def corr_length(r: Run) -> float:
    return _mech(r, "shatter")["length"].iloc[0]


@_safe
def wiggle_1d(r: Run) -> float:
    from ..studies.landscape import wiggle
    return wiggle(_mech(r, "landscape"))


@_safe
def nonconvex(r: Run) -> float:
    from ..studies.landscape import nonconvex_fraction
    return nonconvex_fraction(_mech(r, "landscape"))


@dataclass(frozen=True)
class Prediction:
    """What an explanation predicts on one measure: the sign of deep plain - shallow plain and of deep plain -
    deep residual (+1 higher, -1 lower), the time point, the scale of the test, and what the row cannot show."""

    explanation: str
    measure: str
    fn: Callable[[Run], float]
    vs_shallow: int
    vs_residual: int
    yes: str  # the pattern a yes would show
    time: str = "after training"
    log_scale: bool = False
    caveat: str = ""
    family: str = "explanations"  # Holm's family: the effect itself is tested apart from its explanations


def predictions(P: str, Ps: str, R: str) -> list[Prediction]:
    cons = "consistent with lost information but also a consequence of the worse fit: not diagnostic of a cause"
    return [
        Prediction("degradation (the effect to explain)", "test error, %", test_error, +1, +1,
                   f"{P} errs more than {Ps} and than {R}", family="effect",
                   caveat="the premise, tested on its own (Holm over its two contrasts), not one of the explanations"),
        Prediction("overfitting", "train error (clean, eval mode), %", train_error, -1, -1,
                   f"{P} fits its training set better than {Ps} and {R} (and generalises worse)"),
        Prediction("vanishing gradients", "stage0 / last-stage mean |grad|, late training", grad_ratio, -1, -1,
                   f"{P}'s ratio below {Ps}'s and {R}'s", log_scale=True,
                   caveat="late in training, after the fit is decided: a symptom, not shown to be a cause"),
        Prediction("vanishing gradients", "‖∂loss/∂block output‖, first / last block, trained weights", grad_first_last,
                   -1, -1, f"{P}'s ratio below {Ps}'s and {R}'s", log_scale=True,
                   caveat="at the trained weights, after the fit is decided"),
        Prediction("exploding gradients", "‖∂loss/∂block output‖, first / last block, at initialisation",
                   grad_first_last_init, +1, +1, f"{P}'s ratio above {Ps}'s and {R}'s (the gradient grows towards the input)",
                   time="at initialisation", log_scale=True,
                   caveat="one initialisation a run (its own); the initialisation sweep draws many"),
        Prediction("lost class information", "last-stage LDA accuracy (5-fold CV), fraction", last_stage("lda_accuracy"),
                   -1, -1, f"{P}'s last stage separates the classes less than {Ps}'s and {R}'s", caveat=cons),
        Prediction("lost class information", "last-stage usable information (lower bound), bits",
                   last_stage("mi_probe_bits"), -1, -1, f"{P} below {Ps} and {R}", caveat=cons),
        Prediction("ensembles of shallow paths", "probe accuracy lost with one block deleted (median over blocks), points",
                   lesion_drop, +1, +1, f"{P} loses more than {Ps} and {R}: lesion sensitivity tracks degradation",
                   caveat="residual nets being robust to lesions does not by itself say why a deep plain net trains worse"),
        Prediction("rank collapse", "stable rank (centred) of the last block's output at initialisation", rank_at_init,
                   -1, -1, f"{P}'s rank below {Ps}'s and {R}'s", time="at initialisation", log_scale=True),
        Prediction("shattered gradients", "correlation length of input gradients, fraction of a line (trained)",
                   corr_length, -1, -1, f"{P}'s shorter than {Ps}'s and {R}'s", log_scale=True,
                   caveat="measured on trained nets; Balduzzi et al. place the claim at initialisation"),
        Prediction("loss-surface roughness", "1-D slice: total variation / single valley (1 = one valley)", wiggle_1d,
                   +1, +1, f"{P} above {Ps} and {R}", log_scale=True,
                   caveat="a count over one slice, not the Hessian quantities of Li et al. or PyHessian"),
        Prediction("loss-surface roughness", "2-D slice: fraction of points curving down (non-convex)", nonconvex,
                   +1, +1, f"{P} above {Ps} and {R}",
                   caveat="a count over one window of one slice; a saturating bowl scores high too"),
    ]


def _values(nets: dict[str, list[Run]], fn, log_scale: bool) -> dict[str, list[float]]:
    out = {}
    for k, rs in nets.items():
        v = [fn(r) for r in rs]
        out[k] = [x for x in v if np.isfinite(x) and (x > 0 or not log_scale)]
    return out


def rows(nets: dict[str, list[Run]], s: int, d: int) -> list[VerdictRow]:
    """Every row of the verdict for the four nets (see the module doc)."""
    P, Ps, R = f"plain-{d}", f"plain-{s}", f"residual-{d}"
    preds = predictions(P, Ps, R)
    raw = [_values(nets, p.fn, p.log_scale) for p in preds]
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
        out.append(VerdictRow(p.explanation, p.measure, values, p.yes, status, text, p.time, tuple(cs), p.caveat))
    return out


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
        which = " and ".join(f"{c.a} vs {c.b}" for c in cs if c.outcome == "opposite")
        return "ruled out", f"The {which} contrast goes the other way from the prediction ({nums}).{tail}"
    if all(o == "as predicted" for o in outcomes):
        return "supported", f"Both contrasts go the predicted way ({nums}).{tail}"
    if THIN in outcomes:
        return THIN, f"A net has fewer than two replicates ({nums}).{tail}"
    notes = " ".join(dict.fromkeys(c.note for c in cs if c.outcome == "no difference detected"))
    return "not resolved", f"Not every predicted contrast is significant ({nums}). {notes}{tail}"
