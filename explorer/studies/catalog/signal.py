"""Signal propagation, block by block, for the trained weights and the run's own initial weights."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...charts.mechanisms import SIGNAL_MEASURES, signal_chart
from ...data import normalize
from .. import signal_at_init, signal_profile
from .base import OPT, Study


@dataclass(frozen=True)
class SignalSettings:
    """No settings: the probe set, trained weights in eval mode and initial weights with the batch's statistics."""


def _compute(run, inputs, s, progress=None) -> pd.DataFrame:
    x, y = normalize(inputs.probe.images, inputs.mean, inputs.std), inputs.probe.labels
    parts = [signal_profile(run.load_model(), x, y).to_frame()]
    if run.seed is not None:  # imported weights have no known initialisation
        parts.append(signal_at_init(run.spec, run.seed, x, y).to_frame())
    return pd.concat(parts, ignore_index=True)


def _page(df, colors, names, ui) -> None:
    measure = ui.radio("Measure", list(SIGNAL_MEASURES), horizontal=True, key="mx_sig",
                       format_func=lambda m: SIGNAL_MEASURES[m][0])
    ui.altair_chart(signal_chart(df, measure, colors), width="stretch")


def _summarise(depth: int, df: pd.DataFrame, nets: dict[str, list[str]]) -> str:
    parts = []
    for name, ids in nets.items():
        s = df[df["run_id"].isin(ids) & (df["weights"] == "trained") & (df["block"] != "stem")]
        if s.empty:
            continue
        g = s.groupby("block", sort=False)["grad_norm"].mean()
        ratio = g.iloc[0] / g.iloc[-1] if g.iloc[-1] else np.nan
        rank = s.groupby("block", sort=False)["stable_rank_centred"].mean().iloc[-1]
        parts.append(f"in the {name} net the loss gradient at the first block is {ratio:.2g} times that at the last, "
                     f"and the last block's centred stable rank is {rank:.1f}")
    return f"- Depth {depth}: " + "; ".join(parts) + "." if parts else ""


STUDY = Study(
    name="signal", title="signal propagation",
    about="How the signal propagates, block by block (He et al. 2016 Fig. 7; De & Smith 2020; Daneshmand et al. "
          "2020): branch and output std, Var(branch)/Var(shortcut), the stable rank ‖H‖²_F/‖H‖²_2 of the outputs "
          "(rank collapse drives it towards 1) and the loss gradient's norm at each block.",
    settings=SignalSettings, compute=_compute,
    chart=lambda df, colors=None: signal_chart(df[df["weights"] == "trained"], "grad_norm", colors),
    summarise=_summarise, page=_page,
    report_intro="Signal propagation, trained weights: the loss gradient's norm at every block's output.",
    report_chart=lambda df: signal_chart(df[df["weights"] == "trained"], "grad_norm"),
    columns={"stage": str, "block": OPT, "n": int})
