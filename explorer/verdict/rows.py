"""The rows of the verdict (explorer.verdict.core): one measure a row, read from the caches, and its rule.

Every measure is defined where it is computed (the docstrings named below); here each is taken
per run, averaged over the replicates of each of the four nets, and compared with
:func:`explorer.verdict.core.differs` (non-overlapping 95% CIs).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..runs import Run
from .estimates import Estimate, VerdictRow, differs

THIN = "too thin"
VANISHED = 0.1  # a gradient ratio an order of magnitude below 1: what "vanishing" would have to mean


def _values(nets: dict[str, list[Run]], measure: Callable[[Run], float]) -> dict[str, Estimate]:
    """Net key -> the measure's mean ± 95% CI over the net's replicates."""
    return {k: Estimate.of([measure(r) for r in rs]) for k, rs in nets.items()}


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


def _cmp(v: dict[str, Estimate], a: str, b: str) -> tuple[int | None, Estimate, Estimate]:
    ea, eb = v.get(a, Estimate.of([])), v.get(b, Estimate.of([]))
    return differs(ea, eb), ea, eb


def _thin(ea: Estimate, eb: Estimate, a: str, b: str) -> tuple[str, str]:
    if ea.n == 0 or eb.n == 0:
        missing = a if ea.n == 0 else b
        return "not measured", f"No {missing} run has this measurement yet (compute it on its page, or train the net)."
    return THIN, (f"Too thin to conclude: {a} {ea.text()} vs {b} {eb.text()}; a difference needs at least two "
                  "replicates of each net.")


def _rule(v, a, b, lower_is_yes: bool, yes: str, no: str, fmt: str = ".3g") -> tuple[str, str]:
    """Compare net a with net b: 'supported' when a differs from b in the direction of a yes."""
    d, ea, eb = _cmp(v, a, b)
    if d is None:
        return _thin(ea, eb, a, b)
    nums = f"{a} {ea.text(fmt)} vs {b} {eb.text(fmt)}"
    if d == 0:
        return "not resolved", f"The 95% CIs overlap ({nums}): no difference can be claimed from these replicates."
    if (d < 0) == lower_is_yes:
        return "supported", f"{yes} ({nums})."
    return "not supported", f"{no} ({nums})."


def rows(nets: dict[str, list[Run]], s: int, d: int) -> list[VerdictRow]:
    P, Ps, R = f"plain-{d}", f"plain-{s}", f"residual-{d}"
    out = []

    def add(explanation, measure, fn, yes, rule):
        v = _values(nets, fn)
        status, text = rule(v)
        out.append(VerdictRow(explanation, measure, v, yes, status, text))

    def degradation(v):
        status, text = _rule(v, P, Ps, False, "The deeper plain net is worse: degradation is present",
                             "The deeper plain net is not worse here: there is no degradation to explain", ".2f")
        d_, er, es = _cmp(v, R, f"residual-{s}")
        if d_ is not None:
            text += (f" The residual nets: {R} {er.text('.2f')} vs residual-{s} {es.text('.2f')}"
                     + (" (the deeper one is worse too)." if d_ > 0 else "."))
        return status, text
    add("degradation (the effect to explain)", "test error, %", test_error,
        f"{P} errs more than {Ps} on the test set, while {R} does not", degradation)

    def overfit(v):
        d_, ea, eb = _cmp(v, P, Ps)
        if d_ is None:
            return _thin(ea, eb, P, Ps)
        nums = f"train error, %: {P} {ea.text('.2f')} vs {Ps} {eb.text('.2f')}"
        if d_ > 0:
            return "ruled out", f"The deeper plain net fits its own training set worse ({nums}); overfitting cannot explain its higher test error."
        if d_ < 0:
            return "supported", f"The deeper plain net fits the training set better ({nums}): its worse test error could be overfitting."
        return "not resolved", f"The 95% CIs overlap ({nums})."
    add("overfitting", "train error (clean, eval mode), %", train_error,
        f"{P} has a lower train error than {Ps} (it fits better but generalises worse)", overfit)

    def vanishing(what: str, yes: str, no: str):
        """Supported only when the deep plain net's ratio is under VANISHED and below its residual twin's."""
        def rule(v):
            d_, e, r = _cmp(v, P, R)
            if d_ is None:
                return _thin(e, r, P, R)
            nums = f"{P} {e.text()} vs {R} {r.text()}"
            if e.mean - e.half > VANISHED:
                return "not supported", (f"Nothing vanishes: in {P} {what} {e.text()} times the last "
                                         f"(a vanishing gradient would be under {VANISHED:g}; {R}: {r.text()}).")
            if e.mean + e.half < VANISHED and d_ < 0:
                return "supported", f"{yes} ({nums})."
            return "not resolved", f"The numbers neither show a vanishing gradient nor rule it out ({nums})."
        return rule
    add("vanishing gradients", "stage0 / last-stage mean |grad|, late training", grad_ratio,
        f"{P}'s ratio under {VANISHED:g} (an order of magnitude) and below {R}'s",
        vanishing("the first stage's mean |grad| is", "The first stage of the deep plain net receives a smaller share of the gradient than in its residual twin",
                  "The deep plain net's first stage gets no smaller a share of the gradient than its residual twin's"))
    add("vanishing gradients", "‖∂loss/∂block output‖, first block / last block (trained)", grad_first_last,
        f"{P}'s ratio under {VANISHED:g} and below {R}'s",
        vanishing("the loss gradient at the first block is", "The loss gradient shrinks from the last block to the first in the deep plain net more than in its residual twin",
                  "The loss gradient does not shrink towards the first block more in the deep plain net"))
    # the comparisons of one net with another: (explanation, measure, per-run value, net a, net b,
    # a yes is a below b, what a yes looks like, the sentence for a yes, the sentence for a no)
    simple = [
        ("lost class information", "last-stage LDA accuracy (5-fold CV), fraction", last_stage("lda_accuracy"), P, Ps, True,
         f"{P}'s last stage separates the classes less than {Ps}'s",
         "The deeper plain net's last stage separates the classes less (consistent with lost information, and also "
         "a consequence of the worse fit)", "The deeper plain net's last stage separates the classes no worse"),
        ("lost class information", "last-stage usable information (lower bound), bits", last_stage("mi_probe_bits"), P, Ps,
         True, f"{P} below {Ps}", "Less usable class information is left at the deeper plain net's last stage",
         "The deeper plain net's last stage keeps no less usable information"),
        ("ensembles of shallow paths", "probe accuracy lost with one block deleted (median over blocks), points",
         lesion_drop, R, P, True, f"{R} loses little, {P} collapses",
         "Deleting one block costs the residual net far less than the plain one: it behaves like an ensemble of paths",
         "Deleting a block costs the residual net no less than the plain one"),
        ("rank collapse", "stable rank (centred) of the last block's output at initialisation", rank_at_init, P, R, True,
         f"{P}'s rank near 1, below {R}'s",
         "At initialisation the deep plain net's representations collapse towards low rank more than its residual twin's",
         "No stronger rank collapse at initialisation in the deep plain net"),
        ("shattered gradients", "correlation length of input gradients, fraction of a line", corr_length, P, R, True,
         f"{P}'s shorter than {R}'s", "The deep plain net's input gradients decorrelate over shorter distances",
         "The deep plain net's gradients are not more shattered than its residual twin's"),
        ("loss-surface roughness", "1-D slice: total variation / single valley (1 = one valley)", wiggle_1d, P, R, False,
         f"{P} above {R}", "The deep plain net's loss slice rises and falls more: a rougher surface",
         "The deep plain net's loss slice is no rougher than its residual twin's"),
        ("loss-surface roughness", "2-D slice: fraction of points curving down (non-convex)", nonconvex, P, R, False,
         f"{P} above {R}", "More of the deep plain net's surface is non-convex",
         "The deep plain net's surface is no less convex than its residual twin's"),
    ]
    for explanation, measure, fn, a, b, lower, looks, yes, no in simple:
        add(explanation, measure, fn, looks, lambda v, a=a, b=b, lower=lower, yes=yes, no=no: _rule(v, a, b, lower, yes, no))
    return out
