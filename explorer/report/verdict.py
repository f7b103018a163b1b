"""The results page's last sections: loss landscapes and shattered gradients of the zoo's plain vs
residual nets at depths 20 and 56, BatchNorm's role tested, and the verdict table. Read from the
caches only; every sentence is written from the numbers shown."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import altair as alt
import pandas as pd

from ..charts.landscape import curvature_chart, landscape_line_chart, landscape_map, shatter_chart
from .markdown import md_table
from .mechanisms import study_tables, zoo_nets
from ..runs import Run
from ..verdict.batchnorm import findings, norm_free_table
from ..charts.fair_batchnorm import study_chart
from ..verdict import fair_batchnorm as fair_study
from ..verdict.core import build
from ..verdict.estimates import STATUS_MEANING

DEPTHS = (20, 56)


def landscape_section(runs: list[Run], fig_dir: Path, figures: bool, save: Callable) -> list[str]:
    chosen = zoo_nets(runs, DEPTHS)
    md = []
    land = study_tables(chosen, "landscape")
    if not land.empty:
        md += ["### Loss landscape", "",
               "Loss on a fixed stratified subset of the training split (" + str(land["images_from"].iloc[0]) + "), "
               "along the line from the initial to the trained weights and along filter-normalised random directions "
               "around the trained weights (Li et al. 2018; biases and BatchNorm parameters not moved, running "
               "statistics as trained). These slices are pictures only: a count over one slice depends on its window "
               "(a single saturating bowl scores as non-convex), so the verdict measures curvature by the Hessian "
               "instead (below).", ""]
        rows = []
        for r in chosen:
            one = land[land["run_id"] == r.id]
            if not one.empty:
                rows.append({"net": f"{'residual' if r.spec.residual else 'plain'}-{r.spec.depth}", "seed": r.seed,
                             "loss at the trained weights": float(one[(one["view"] == "1d") & (one["a"] == 0)]["loss"].iloc[0])})
        md += [md_table(pd.DataFrame(rows).sort_values(["net", "seed"]), ".2f"), ""]
        if figures:
            lines = [landscape_line_chart(land[land["run_id"].isin([r.id for r in chosen if r.spec.depth == d])], "1d")
                     .properties(title=f"depth {d}: loss along a random direction", width=300, height=220)
                     for d in DEPTHS]
            maps = [landscape_map(land[land["run_id"] == r.id], f"{'residual' if r.spec.residual else 'plain'}-{r.spec.depth}")
                    for r in chosen if r.seed == 0 and (land["run_id"] == r.id).any()]
            save(alt.vconcat(alt.hconcat(*lines), alt.hconcat(*maps)), fig_dir / "landscape.png")
        md += ["![loss landscape](figures/landscape.png)", ""]
    md += curvature_section(chosen, fig_dir, figures, save)
    shat = study_tables(chosen, "shatter")
    if not shat.empty:
        md += ["### Shattered gradients", "",
               "Correlation of the input gradients of the true class's logit at two points on a line between two probe "
               "images of different classes, against their distance (fraction of the line), mean over 16 lines "
               "(Balduzzi et al. 2017, adapted to images). Correlation length: where it first falls below 1/e.", ""]
        lengths = shat.groupby("run_id")[["length", "censored"]].first()
        rows = [{"net": f"{'residual' if r.spec.residual else 'plain'}-{r.spec.depth}", "seed": r.seed,
                 "correlation length": float(lengths.loc[r.id, "length"]),
                 "lower bound": bool(lengths.loc[r.id, "censored"])} for r in chosen if r.id in lengths.index]
        md += [md_table(pd.DataFrame(rows).sort_values(["net", "seed"]), ".2f"), ""]
        if figures:
            charts = [shatter_chart(shat[shat["run_id"].isin([r.id for r in chosen if r.spec.depth == d])])
                      .properties(title=f"depth {d}", width=300, height=220) for d in DEPTHS]
            save(alt.hconcat(*charts), fig_dir / "shatter.png")
        md += ["![shattered gradients](figures/shatter.png)", ""]
    return md


def curvature_section(chosen: list[Run], fig_dir: Path, figures: bool, save: Callable) -> list[str]:
    """The Hessian at the trained weights of the zoo's nets (the verdict's roughness rows), a row a run."""
    cur = study_tables([r for r in chosen if r.spec.depth in (20, 56, 110)], "curvature")
    if cur.empty:
        return []
    by_id = {r.id: r for r in chosen}
    rows = []
    for t in cur.itertuples():
        r = by_id[t.run_id]
        rows.append({"net": f"{'residual' if r.spec.residual else 'plain'}-{r.spec.depth}", "seed": r.seed,
                     "λmax": f"{t.lambda_max:.4g}", "trace ± SE": f"{t.trace:.4g} ± {t.trace_se:.2g}",
                     "λmin": f"{t.lambda_min:.3g}",
                     "max(0, -λmin)/λmax (lower bound)": f"{max(0.0, -t.lambda_min) / t.lambda_max:.3g}",
                     "λmax converged": bool(t.converged_max),
                     "Lanczos steps": int(t.lanczos_steps), "loss": f"{t.loss:.3f}"})
    images = str(cur["images_from"].iloc[0])
    return ["### Curvature at the trained weights (Hessian)", "",
            f"The Hessian of the mean cross-entropy on {images}, BatchNorm in eval mode with the trained statistics "
            "(`explorer/studies/curvature.py`): λmax and λmin, the extreme Ritz values after 30 Lanczos steps "
            "(Hessian-vector products; every net searched alike), the trace by Hutchinson's estimator over 10 "
            "Rademacher vectors (± its standard error), and Li et al.'s non-convexity max(0, -λmin) / λmax. "
            f"λmax met its convergence test (residual bound within 0.1% of it) in {int(cur['converged_max'].sum())} of "
            f"{len(cur)} runs; λmin is an upper bound (the most negative curvature found: the "
            "few negative eigenvalues sit beside many near zero and converge slowly), so the ratio is a lower bound. "
            "PyHessian "
            "(Yao et al. 2020) reports λmax and the trace growing with depth in CIFAR ResNets without shortcuts.", "",
            md_table(pd.DataFrame(rows).sort_values(["net", "seed"])), ""] + _curvature_figure(cur, fig_dir, figures, save)


def _curvature_figure(cur: pd.DataFrame, fig_dir: Path, figures: bool, save: Callable) -> list[str]:
    if figures:
        save(curvature_chart(cur), fig_dir / "curvature.png")
    return ["![Hessian at the trained weights](figures/curvature.png)", ""]


def verdict_section(runs: list[Run], fig_dir: Path | None = None, figures: bool = False,
                    save: Callable | None = None) -> list[str]:
    """BatchNorm's role and the verdict (the fair study once its runs have joined the zoo)."""
    md = []
    nf = norm_free_table(runs)
    md += ["## BatchNorm's role, tested", ""]
    results = fair_study.compare(runs)  # once: its bootstrap serves the words, the table and the figure
    fair = fair_study.sentences(runs, results=results)
    md += ["### At depth 20, learning rates chosen on a validation split (three seeds)", "",
           "BN, no BN, no BN + SkipInit (De & Smith 2020) and no BN + Fixup (Zhang et al. 2019, as published), "
           "trained on CIFAR-10 minus a 5,000-image validation split: BN at its usual rate 0.1 (the reference, not "
           "swept), each of the others at the rate its sweep chose (`checkpoints/batchnorm_study.py`; bf16 autocast "
           "for every net, after a one-epoch fp32 / bf16 check). "
           "Test error: mean with its 95% t CI over seeds; contrasts: Welch, Holm over the section.", "",
           "What still differs from the papers' recipes, and why:", ""] + [f"- {d}" for d in fair_study.DEVIATIONS] + [""]
    if fair:
        md += [f"- {line}" for line in fair] + [""]
        shown = fair_study.table(runs, results=results)
        if not shown.empty:
            if figures:
                save(study_chart(fair_study.sweep(runs), shown, fair_study.seed_errors(runs, results=results)),
                     fig_dir / "batchnorm_fair.png")
            md += [md_table(shown.drop(columns=["runs"]), ".2f"), "",
                   "![the sweep and the comparison](figures/batchnorm_fair.png)", ""]
    else:
        md += ["Training in progress (`checkpoints/batchnorm_study.py`): the runs join the zoo when the whole study "
               "has finished; the Verdict page shows its progress.", ""]
    md += ["### Earlier runs, one seed each, at lr 0.1 (exploratory)", ""]
    if nf.empty:
        md += ["No SkipInit or Fixup run in the zoo yet.", ""]
    else:
        md += ["Residual nets without BatchNorm trained with SkipInit (De & Smith 2020) or Fixup (Zhang et al. 2019), "
               "beside the same net with and without BatchNorm at the same recipe. Share of the gap closed: "
               "(no BN − scheme) / (no BN − BN) in test error.", "",
               md_table(nf.drop(columns=["runs", "diverged runs", "at chance runs", "chance test error %"]), ".2f"), ""]
        md += [f"- {line}" for line in findings(runs)]
        md.append("")
    v = build(runs, 20, 56)
    if v.rows:
        md += ["## The verdict", "",
               f"Depths 20 and 56 on {v.data}; trained nets: {', '.join(f'{k} n = {len(x)}' for k, x in v.runs.items())}; "
               "rows at initialisation: 20 initialisations a net from the sweep above. Each explanation predicts a pattern; each row tests the two contrasts it "
               "predicts, plain-56 vs plain-20 and plain-56 vs residual-56, at the time point its paper names: Welch's "
               "difference of means (× marks a ratio of geometric means, for positive ratios) with its 95% CI "
               "(unadjusted), and the Holm-adjusted p over every planned contrast of the explanations (family-wise "
               "0.05; a contrast not measured yet counts as p = 1, one measure's test once; the degradation row, the "
               "premise, over its own two). "
               + " ".join(f"*{k}*: {m}." for k, m in STATUS_MEANING.items())
               + " `python -m explorer report` writes this table as docs/verdict.csv (each net's mean and 95% CI too).", ""]

        def cell(c):
            if c.stats is None or c.stats.thin:
                return c.outcome
            return (f"{'×' if c.stats.log_scale else 'Δ'} {c.stats.diff:.3g} [{c.stats.ci_low:.3g}, {c.stats.ci_high:.3g}], "
                    f"Holm p {c.holm_p:.2g}: {c.outcome}")
        table = pd.DataFrame([{"explanation": r.explanation, "time": r.time, "measure": r.measure,
                               "plain-56 vs plain-20": cell(r.contrasts[0]), "plain-56 vs residual-56": cell(r.contrasts[1]),
                               "verdict": r.status} for r in v.rows])
        md += [md_table(table), ""] + [f"- **{r.explanation}** ({r.time}): {r.verdict}"
                                       + (f" ({r.noise}.)" if r.noise else "") for r in v.rows] + [""]
        for net, ids in v.untrained.items():
            md += [f"- {net}: {len(ids)} run(s) never left chance (training accuracy below 1.5 × chance): they did not "
                   "train at this recipe, which is not degradation, and are left out of every contrast.", ""]
    return md
