"""Lesions (Veit et al. 2016): delete blocks at test time and measure what is left."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...charts.mechanisms import lesion_curve_chart, lesion_single_chart
from ...data import normalize
from .. import lesion_study, single_lesions
from .base import NUM, Study, check_settings, setting


@dataclass(frozen=True)
class LesionSettings:
    draws: int = setting(3, flag="--draws", label="Random draws of k blocks", help="lesion: random deletion sets a k",
                         lo=1, hi=50)
    seed: int = setting(0, flag="--lesion-seed", label="Seed", help="lesion: seed of the random deletion sets",
                        lo=0, hi=2 ** 32 - 1)
    test_set: bool = setting(False, flag="--test-set", label="also over the full test set (needs the data on this machine)",
                             help="lesion: also delete each block over the full test split (needs the run's data here)",
                             widget_key="mx_test")

    def __post_init__(self):
        check_settings(self)



def _key(s: LesionSettings) -> dict:
    return {"draws": s.draws, "seed": s.seed, **({"test_set": True} if s.test_set else {})}


def _compute(run, inputs, s: LesionSettings, progress=None) -> pd.DataFrame:
    model = run.load_model()
    x, y = normalize(inputs.probe.images, inputs.mean, inputs.std), inputs.probe.labels
    study = lesion_study(model, x, y, draws=s.draws, seed=s.seed)
    parts = [study.singles.to_frame().assign(view="single"), study.curve.to_frame().assign(view="curve")]
    if s.test_set:  # the same single-block lesions over the full test split
        from ...analysis.evaluation import eval_data
        data = eval_data(run)
        parts.append(single_lesions(model, normalize(data.test_x, inputs.mean, inputs.std), data.test_y)
                     .to_frame().assign(view="single (test set)"))
    return pd.concat(parts, ignore_index=True)


def _page(df, colors, names, ui) -> None:
    ui.markdown("**Accuracy with one block deleted at test time**")
    ui.altair_chart(lesion_single_chart(df, colors).properties(title=""), width="stretch")
    ui.caption("Gaps: plain blocks that change shape cannot be deleted. Dotted: chance. Dashed: stage boundaries.")
    ui.altair_chart(lesion_curve_chart(df, colors), width="stretch")
    ui.caption("Line: mean over random draws of k blocks; band: min..max over the draws.")
    if (df["view"] == "single (test set)").any():
        ui.altair_chart(lesion_single_chart(df, colors, "single (test set)").properties(
            title="accuracy with one block deleted, over the full test set"), width="stretch")


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _summarise(depth: int, df: pd.DataFrame, nets: dict[str, list[str]]) -> str:
    parts = []
    for name, ids in nets.items():
        s = df[(df["view"] == "single") & df["run_id"].isin(ids) & df["deletable"].astype(bool)]
        if s.empty:
            continue
        base = s.groupby("run_id")["baseline_accuracy"].first().mean()
        parts.append(f"with one block deleted the {name} net's accuracy has median {_pct(s['accuracy'].median())} "
                     f"(worst {_pct(s['accuracy'].min())}; intact {_pct(base)}; {s['block'].nunique()} deletable blocks)")
    return f"- Depth {depth}: " + "; ".join(parts) + f" ({len(sum(nets.values(), []))} runs, probe set)." if parts else ""


STUDY = Study(
    name="lesion", title="lesion",
    about="Delete blocks at test time (Veit et al. 2016): a residual block's output becomes its shortcut's; a plain "
          "block whose shapes match becomes the identity. If residual nets behave like ensembles of shallow paths, "
          "deleting one block barely hurts them, while a plain net falls to chance.",
    settings=LesionSettings, compute=_compute, chart=lambda df, colors=None: lesion_single_chart(df, colors),
    summarise=_summarise, page=_page, key=_key, page_fields=("test_set",),
    report_intro="Lesions (Veit et al. 2016): a residual block deleted leaves its shortcut, a plain block whose shapes "
                 "match becomes the identity.",
    report_chart=lambda df: lesion_single_chart(df),
    columns={"view": str, "baseline_accuracy": NUM, "n": int})
