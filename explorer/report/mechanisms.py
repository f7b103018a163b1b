"""The results page's mechanisms section: the zoo's plain vs residual nets (with BatchNorm) at
each depth, from the cached mechanism studies (nothing is computed here; `python -m explorer
mechanisms ... --ship` fills the cache). Every sentence is written from the numbers shown."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import altair as alt
import pandas as pd

from ..studies.catalog import REGISTRY, study_table
from ..runs import Run, main_runs
from ..analysis.run_tables import label_table

DEPTHS = (20, 56, 110)


def study_tables(runs: list[Run], kind: str) -> pd.DataFrame:
    parts = []
    for r in runs:
        try:
            t = study_table(r, kind, cached_only=True)
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


def section(runs: list[Run], fig_dir: Path, figures: bool, save: Callable) -> list[str]:
    """Markdown lines (and PNG figures) of the mechanisms section; empty when nothing is cached."""
    chosen = zoo_nets(runs, DEPTHS)
    md = ["## Mechanisms: plain vs residual, block by block", "",
          "From the cached studies of the zoo's nets with BatchNorm (`python -m explorer mechanisms RUN... --kind "
          "lesion|profile|signal`); the probe set is the 500 test images. Lines: one a run; colour: the condition.", ""]
    any_drawn = False
    for study in (s for s in REGISTRY.values() if s.report_intro and s.summarise is not None):
        kind, intro = study.name, study.report_intro
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
            md.append(study.summarise(depth, sub, nets))
            c = (study.report_chart or study.chart)(sub)
            charts.append(c.properties(title=f"depth {depth}", width=300, height=220))
        if figures and charts:
            save(alt.hconcat(*charts), fig_dir / f"mechanisms_{kind}.png")
        md += ["", f"![{kind}](figures/mechanisms_{kind}.png)", ""]
    return md if any_drawn else []
