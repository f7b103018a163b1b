"""`python -m explorer report`: a results page regenerated from the runs present.

Every number on the page comes from the run folders under ``root`` and from the analysis
tables committed beside them (``<root>/separability_*.csv``, written by
``python -m explorer analyze``); nothing is typed in by hand except He et al.'s published
reference numbers, which are labelled as such. Running the command twice gives the same page.
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..atomic import FileRefused, atomic_write_bytes, atomic_write_text, read_capped
from .markdown import md_table, pct
from ..charts.common import curves_chart, degradation_chart, gradient_panels
from ..reference import HE_2016_CIFAR10_TEST_ERROR as HE_2016
from ..runs import label_runs, list_runs, main_runs
from ..separability import DEFAULT_SETTINGS, describe
from ..settings import REPO_ROOT
from ..analysis.gradients import gradient_summary, gradient_table
from ..analysis.run_tables import band, degradation_table, history_table, runs_table

CSV_CAP = 64 * 1024 * 1024  # a separability table of a few hundred runs is a few MB


def _findings(deg: pd.DataFrame, untrained: dict[str, str]) -> list[str]:
    """Deeper vs shallower, per series, from the mean test and train error over replicates; a run that did not
    train (``untrained``: run id -> why) is named, never compared."""
    ours = deg[(deg["family"] == "cifar")]
    out = [f"- {net}, depth {depth}: **did not train at this recipe** ({untrained[rid]}); a failure to train, not "
           "degradation, so it is left out of the comparisons." for net, depth, rid in
           zip(ours["net"], ours["depth"], ours["run_id"]) if rid in untrained]
    ours = ours[~ours["run_id"].isin(untrained)]
    for net, sub in ours.groupby("net"):
        means = sub.groupby("depth")[["test_error", "train_error"]].mean()
        n = sub.groupby("depth").size()
        depths = sorted(means.index)
        for a, b in zip(depths, depths[1:]):
            te_a, te_b = means.loc[a, "test_error"], means.loc[b, "test_error"]
            tr_a, tr_b = means.loc[a, "train_error"], means.loc[b, "train_error"]
            verdict = "worse" if te_b > te_a else "better"
            out.append(f"- {net}: depth {b} is **{verdict}** than depth {a}: test error {te_b:.2f}% vs {te_a:.2f}%, "
                       f"train error {tr_b:.2f}% vs {tr_a:.2f}% (means over {n[b]} and {n[a]} replicate(s)).")
    return out


def _save_png(chart, path: Path) -> None:
    import json
    import math

    import vl_convert as vlc

    def clean(o):  # the renderer's JSON has no NaN or infinity: missing values become null
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    spec = json.dumps(clean(json.loads(chart.to_json())), allow_nan=False)
    atomic_write_bytes(path, vlc.vegalite_to_png(spec, scale=1.5))


def _main_text(main) -> str:
    """The recipe of the main experiment's runs, in words."""
    t = main[0].record.train if main else None
    if t is None:
        return "no run"
    return f"{t.epochs} epochs on " + ("all training images" if t.subset is None else f"a {t.subset}-image subset")


def separability_tables(root: Path, runs) -> tuple[pd.DataFrame, list[str]]:
    """The gap analysis of every run: from the analysis cache (the zoo's ships with it), else from a
    ``separability_*.csv`` kept beside the runs (the resnet18 runs, whose weights are not shipped).
    Nothing is computed here. Returns the table and the sources used."""
    from ..analysis.table import analyze_run
    tables, sources = [], []
    for run in runs:
        try:
            t = analyze_run(run, cached_only=True) if run.weights_file() is not None else None
        except ValueError:
            t = None
        if t is not None:
            tables.append(t)
    if tables:
        sources.append("the analysis cache (`checkpoints/analysis/`)")
    done = {t["run_id"].iloc[0] for t in tables}
    for f in sorted(Path(root).glob("separability_*.csv")):
        try:  # through the door: a regular file of at most CSV_CAP bytes, with a run_id column
            t = pd.read_csv(io.BytesIO(read_capped(f, CSV_CAP, what="separability table")))
            t = t[~t["run_id"].isin(done)]
        except (FileRefused, ValueError, KeyError, pd.errors.ParserError):
            continue
        if len(t):
            tables.append(t)
            sources.append(f"`{f.name}`")
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), sources


def build(root: Path, out: Path, figures: bool = True) -> str:
    """Write the page (and its PNG figures beside it) and return the markdown."""
    root, out = Path(root), Path(out)
    try:  # the page names folders as a reader of the repository sees them
        shown = root.resolve().relative_to(REPO_ROOT)
    except ValueError:
        shown = root
    runs = list_runs(root).runs
    fig_dir = out.parent / "figures"
    md = ["# Results", "",
          f"Regenerated by `python -m explorer report --root {shown.as_posix()}` from the "
          f"{len(runs)} runs in `{shown.as_posix()}/`. Every number below comes from those runs; the only numbers "
          "typed in are He et al.'s published ones, labelled as such.", ""]
    if not runs:
        md.append("No runs found.")
        text = "\n".join(md) + "\n"
        atomic_write_text(out, text)
        return text

    deg = degradation_table(runs)
    # the figures show the main experiment (runs.main_experiment); the tables every run, labelled with its recipe
    main = main_runs([r for r in runs if r.spec.family == "cifar" and r.status == "finished"])
    main_ids = {r.id for r in main}
    subset_ids = {r.id for r in runs if r.record.train is not None and r.record.train.subset is not None}
    from ..runs import did_not_train
    untrained = {r.id: f"training accuracy {100 * r.record.final.clean_train_acc:.1f}% after "
                       f"{r.record.epochs_done} epochs, chance {100 / max(1, len(r.record.data.classes or ()) or 10):.0f}%"
                 for r in runs if did_not_train(r)}
    md += ["## The degradation problem", ""] + _findings(deg, untrained) + [""]
    ours = deg[(deg["family"] == "cifar") & ~deg["run_id"].isin(untrained)]  # did not train: named above, not averaged
    if not ours.empty:
        g = band(ours, ["series", "net", "depth"], "test_error", "std")
        g["test error % (mean ± std)"] = [f"{m:.2f} ± {s:.2f}" if c > 1 else f"{m:.2f} (one seed)"
                                          for m, s, c in zip(g["mean"], g["hi"] - g["mean"], g["count"])]
        tr = ours.groupby(["series", "depth"])["train_error"].mean().reset_index(name="train error % (mean)")
        g = g.merge(tr, on=["series", "depth"])
        g["train error % (mean)"] = g["train error % (mean)"].map(lambda v: f"{v:.2f}")
        # their numbers are for residual nets with BatchNorm trained on all 50,000 images: not beside a subset run
        subset_series = set(ours.loc[ours["run_id"].isin(subset_ids), "series"])
        g["He et al. 2016 %"] = [pct(HE_2016.get(d)) if n.startswith("residual + BN") and s not in subset_series else "–"
                                 for n, d, s in zip(g["net"], g["depth"], g["series"])]
        md += [md_table(g.rename(columns={"count": "replicates"})[["net", "depth", "replicates", "test error % (mean ± std)",
                                                                "train error % (mean)", "He et al. 2016 %"]]), ""]
        md += ["He et al. 2016 (Table 6) report ResNet-20/32/44/56/110 at 8.75 / 7.51 / 7.17 / 6.97 / 6.43 % test error "
               "on the original CIFAR-10 after 64k iterations; for plain nets they report only that plain-56 has higher "
               "training and test error than plain-20. The runs here are much shorter (see the table below) and "
               "use a JPEG copy of CIFAR-10, so their absolute errors are higher.", ""]
        if figures:
            drawn = deg[deg["run_id"].isin(main_ids) & ~deg["did_not_train"]]  # named above, not drawn
            _save_png(degradation_chart(drawn, "std"), fig_dir / "degradation.png")
        md += [f"The figures below show the main experiment ({_main_text(main)}); the runs of other recipes are in the "
               "tables and in \"BatchNorm's role, tested\".", "", "![test error vs depth](figures/degradation.png)", ""]

    every = runs_table(runs)
    every["train error %"] = [pct(None if v is None or pd.isna(v) else 100 * (1 - v)) for v in every["train_acc"]]
    every["test error %"] = [pct(None if v is None or pd.isna(v) else 100 * (1 - v)) for v in every["test_acc"]]
    every["epochs"] = [f"{d}/{e if e is not None and not pd.isna(e) else '?'}" for d, e in zip(every["epochs_done"], every["epochs"])]
    every = every.sort_values(["model", "lr", "seed"], kind="stable")
    md += ["## Every run", "", "Train error is measured in eval mode on 5,000 training images without augmentation. "
           "`condition` is the experiment without its seed: only rows of one condition are replicates.", "",
           md_table(every[["label", "condition", "status", "epochs", "train error %", "test error %", "dataset",
                            "run_id"]]), ""]

    cifar = [r for r in main if r.history()]
    if cifar and figures:
        _save_png(curves_chart(history_table(cifar), "accuracy", "std", ("train (clean)", "test")), fig_dir / "curves.png")
    if cifar:
        md += ["## Accuracy curves", "", "Mean over the replicates of each condition, band ± std, clipped to [0, 1].", "", "![accuracy curves](figures/curves.png)", ""]

    grad_runs = [r for r in main if r.gradlog() is not None and r.spec.batchnorm]
    if grad_runs:
        gt = gradient_table(grad_runs, ["stage0", "stage3"], max_points=200, smooth=25)  # stage3: the cifar family's last
        if figures:
            _save_png(gradient_panels(gradient_summary(gt), "mean |grad|", "moving average of 25 steps", True),
                      fig_dir / "gradients.png")
        md += ["## Gradients: stage0 vs the last stage", "",
               "Mean |grad| of the stage's parameters at every step (moving average of 25 steps), a panel a condition: "
               "the line is the median over its replicates, the band their min..max.", "",
               "![gradients](figures/gradients.png)", ""]

    sep_table, sources = separability_tables(root, runs)
    if not sep_table.empty:
        # rows are averaged over the replicates of one condition only, never across conditions
        labels = label_runs([r.record for r in runs], {r.id: r.status for r in runs})
        sep_table = sep_table[sep_table["run_id"].isin(labels.condition_of)].copy()
        sep_table["model"] = sep_table["run_id"].map(lambda rid: labels.condition[labels.condition_of[rid]])
        piv = (sep_table.groupby(["model", "variant", "stage", "metric"])["value"].mean().unstack("metric").reset_index())
        for c in piv.columns[3:]:
            piv[c] = piv[c].map(lambda v: "NaN" if pd.isna(v) else f"{v:.3f}")
        seeds = sep_table.groupby("model")["run_id"].nunique().to_dict()
        md += ["## Separability per stage", "",
               f"Probe set: 500 test images (50 a class), features reduced by global average pooling; values are means over "
               f"the replicates analysed ({', '.join(f'{k}: {v}' for k, v in sorted(seeds.items()))}). "
               + describe(DEFAULT_SETTINGS) + " mi_probe_bits is a lower bound on I(Z;Y) in bits (at most log2 10 = 3.32). "
               "Source: " + ", ".join(sources) + ".", "",
               md_table(piv), ""]
        nan = sep_table[sep_table["value"].isna()].drop_duplicates(["model", "stage"])
        md += [f"- NaN for {m}, {st}: {note}" for m, st, note in zip(nan["model"], nan["stage"], nan["note"].fillna(""))]
        md += [""] if len(nan) else []
    from .mechanisms import section
    from .verdict import landscape_section, verdict_section
    md += section(runs, fig_dir, figures, _save_png)
    from .init_sweep import section as sweep_section
    md += sweep_section(fig_dir, figures, _save_png, out.parent)
    md += landscape_section(runs, fig_dir, figures, _save_png)
    md += verdict_section(runs, fig_dir, figures, _save_png)  # the fair study's progress is on the Verdict page: the page here changes with the runs only
    from ..analysis.table import write_csv
    from ..verdict.core import build as build_verdict
    verdict = build_verdict(runs, 20, 56)
    if verdict.rows:
        write_csv(verdict.to_frame(), out.parent / "verdict.csv")
    text = "\n".join(md) + "\n"
    atomic_write_text(out, text)
    return text
