"""The results page's mechanisms section: the zoo's plain vs residual nets (with BatchNorm) at
each depth, from the cached mechanism studies (nothing is computed here; `python -m explorer
mechanisms ... --ship` fills the cache). Every sentence is written from the numbers shown."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import altair as alt
import numpy as np
import pandas as pd

from ..studies.analysis import mechanism_table
from ..charts.mechanisms import lesion_single_chart, profile_chart, signal_chart
from ..runs import Run, main_runs
from ..analysis.run_tables import label_table

DEPTHS = (20, 56, 110)


def study_tables(runs: list[Run], kind: str) -> pd.DataFrame:
    parts = []
    for r in runs:
        try:
            t = mechanism_table(r, kind, cached_only=True)
        except ValueError:
            t = None
        if t is not None:
            parts.append(t)
    return label_table(pd.concat(parts, ignore_index=True), runs) if parts else pd.DataFrame()


def zoo_nets(runs: list[Run], depths) -> list[Run]:
    """The finished plain and residual cifar nets with BatchNorm (no SkipInit / Fixup) at ``depths``, with weights,
    of the main experiment (``runs.main_experiment``: a run on a training subset is another experiment)."""
    return main_runs([r for r in runs if r.spec.family == "cifar" and r.spec.batchnorm and r.spec.scheme == "none"
                      and r.spec.depth in depths and r.status == "finished" and r.weights_file() is not None])


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _lesion_sentence(depth: int, df: pd.DataFrame, nets: dict[str, list[str]]) -> str:
    parts = []
    for name, ids in nets.items():
        s = df[(df["view"] == "single") & df["run_id"].isin(ids) & df["deletable"].astype(bool)]
        if s.empty:
            continue
        base = s.groupby("run_id")["baseline_accuracy"].first().mean()
        parts.append(f"with one block deleted the {name} net's accuracy has median {_pct(s['accuracy'].median())} "
                     f"(worst {_pct(s['accuracy'].min())}; intact {_pct(base)}; {s['block'].nunique()} deletable blocks)")
    return f"- Depth {depth}: " + "; ".join(parts) + f" ({len(sum(nets.values(), []))} runs, probe set)." if parts else ""


def _profile_sentence(depth: int, df: pd.DataFrame, nets: dict[str, list[str]]) -> str:
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


def _signal_sentence(depth: int, df: pd.DataFrame, nets: dict[str, list[str]]) -> str:
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


def section(runs: list[Run], fig_dir: Path, figures: bool, save: Callable) -> list[str]:
    """Markdown lines (and PNG figures) of the mechanisms section; empty when nothing is cached."""
    chosen = zoo_nets(runs, DEPTHS)
    md = ["## Mechanisms: plain vs residual, block by block", "",
          "From the cached studies of the zoo's nets with BatchNorm (`python -m explorer mechanisms RUN... --kind "
          "lesion|profile|signal`); the probe set is the 500 test images. Lines: one a run; colour: the condition.", ""]
    studies = [("lesion", "Lesions (Veit et al. 2016): a residual block deleted leaves its shortcut, a plain block "
                          "whose shapes match becomes the identity.", _lesion_sentence),
               ("profile", "Per-block profiles: LDA accuracy (5-fold CV) of every block's output.", _profile_sentence),
               ("signal", "Signal propagation, trained weights: the loss gradient's norm at every block's output.",
                _signal_sentence)]
    any_drawn = False
    for kind, intro, sentence in studies:
        df = study_tables(chosen, kind)
        if df.empty:
            continue
        any_drawn = True
        md += [f"### {kind}", "", intro, ""]
        charts = []
        for depth in DEPTHS:
            ids = [r.id for r in chosen if r.spec.depth == depth]
            sub = df[df["run_id"].isin(ids)]
            if sub.empty:
                continue
            nets = {"residual": [r.id for r in chosen if r.spec.depth == depth and r.spec.residual],
                    "plain": [r.id for r in chosen if r.spec.depth == depth and not r.spec.residual]}
            md.append(sentence(depth, sub, nets))
            if kind == "lesion":
                c = lesion_single_chart(sub)
            elif kind == "profile":
                c = profile_chart(sub, "lda_accuracy")
            else:
                c = signal_chart(sub[sub["weights"] == "trained"], "grad_norm")
            charts.append(c.properties(title=f"depth {depth}", width=300, height=220))
        if figures and charts:
            save(alt.hconcat(*charts), fig_dir / f"mechanisms_{kind}.png")
        md += ["", f"![{kind}](figures/mechanisms_{kind}.png)", ""]
    return md if any_drawn else []
