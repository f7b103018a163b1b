"""Per-block profiles: where along the depth class information is made usable or lost."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...charts.mechanisms import PROFILE_MEASURES, profile_chart
from ...data import normalize
from .. import block_profiles
from .base import OPT, Study


@dataclass(frozen=True)
class ProfileSettings:
    """No settings: every block's gap features, scored with the separability metrics' defaults."""


def _compute(run, inputs, s, progress=None) -> pd.DataFrame:
    x = normalize(inputs.probe.images, inputs.mean, inputs.std)
    return block_profiles(run.load_model(), x, inputs.probe.labels).to_frame()


def _page(df, colors, names, ui) -> None:
    measure = ui.radio("Measure", list(PROFILE_MEASURES), horizontal=True, key="mx_prof", format_func=PROFILE_MEASURES.get)
    ui.altair_chart(profile_chart(df, measure, colors), width="stretch")


def _summarise(depth: int, df: pd.DataFrame, nets: dict[str, list[str]]) -> str:
    parts = []
    for name, ids in nets.items():
        s = df[df["run_id"].isin(ids)]
        if s.empty:
            continue
        by_block = s.groupby("block", sort=False)["lda_accuracy"].mean()
        low = next((b for b, v in by_block.items() if b != "stem" and v < 0.15), None)
        parts.append(f"the {name} net's LDA accuracy goes from {by_block.iloc[0]:.2f} at the stem to "
                     f"{by_block.iloc[-1]:.2f} at its last block" + (f", at chance level from block {low} on" if low else ""))
    return f"- Depth {depth}: " + "; ".join(parts) + "." if parts else ""


STUDY = Study(
    name="profile", title="per-block profiles",
    about="Where along the depth is class information made usable or lost? Every block's output (gap features) "
          "scored with the separability metrics, and linear CKA with the previous block.",
    settings=ProfileSettings, compute=_compute, chart=lambda df, colors=None: profile_chart(df, "lda_accuracy", colors),
    summarise=_summarise, page=_page,
    report_intro="Per-block profiles: LDA accuracy (5-fold CV) of every block's output.",
    report_chart=lambda df: profile_chart(df, "lda_accuracy"),
    columns={"stage": str, "block": OPT, "n": int})
