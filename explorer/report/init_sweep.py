"""The results page's section on fresh initialisations: the shipped initialisation sweep against depth,
its numbers at the verdict's depths, and the CSV of its summary. Nothing is computed but summaries."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import altair as alt
import pandas as pd

from ..charts.init_sweep import MEASURE_TITLES, branch_chart, net_name, sweep_chart
from ..verdict.init_summary import load_sweep, summarise_sweep
from .markdown import md_table

SHOWN = ("grad_ratio", "stable_rank", "lag1", "branch_var_ratio_mean")


def _cell(row) -> str:
    if row.n == 0 or pd.isna(row.centre):
        return "-"
    return f"{row.centre:.3g} [{row.ci_low:.3g}, {row.ci_high:.3g}]"


def section(fig_dir: Path, figures: bool, save: Callable, csv_dir: Path) -> list[str]:
    """Markdown lines (and the figure, and docs/init_sweep_summary.csv) of the sweep; empty without it."""
    try:
        frame = load_sweep()
    except ValueError as e:
        return ["## At initialisation: the sweep", "", f"The sweep cannot be read: {e}", ""]
    if frame is None:
        return []
    summary = summarise_sweep(frame)
    blocks = summarise_sweep(frame, blocks=True)
    summary.to_csv(csv_dir / "init_sweep_summary.csv", index=False)
    seeds = int(frame["seed"].nunique())
    md = ["## At initialisation: the sweep", "",
          f"Freshly initialised nets (no training), {seeds} initialisations (seeds) a net and depth, on the 500 probe "
          "images, BatchNorm normalising with the batch's own statistics as in the first training step "
          "(`checkpoints/init_sweep.py`, measures defined in `explorer/studies/init_measures.py`). Each cell: the mean "
          "over the initialisations, or the geometric mean for a positive ratio, with its 95% CI in brackets (t; on "
          "the log scale for a ratio, so it never reaches below 0). Every number of the figure is in "
          "`docs/init_sweep_summary.csv`. The verdict's rows \"at initialisation\" test these numbers.", ""]
    for measure in SHOWN:
        d = summary[(summary["measure"] == measure) & summary["depth"].isin([20, 56, 110])]
        if d.empty:
            continue
        d = d.assign(net=[net_name(r, b) for r, b in zip(d["residual"], d["batchnorm"])], cell=[_cell(r) for r in d.itertuples()])
        table = d.pivot(index="net", columns="depth", values="cell").reset_index()
        table.columns = ["net"] + [f"depth {c}" for c in table.columns[1:]]
        md += [f"**{MEASURE_TITLES[measure]}**", "", md_table(table), ""]
    if figures:
        charts = [sweep_chart(summary, m).properties(title=MEASURE_TITLES[m].split(" (")[0], width=300, height=240)
                  for m in SHOWN]
        charts.append(branch_chart(blocks, 56).properties(title="Var(branch) / Var(block input), depth 56",
                                                          width=300, height=240))
        save(alt.vconcat(alt.hconcat(*charts[:3]), alt.hconcat(*charts[3:])), fig_dir / "init_sweep.png")
    md += ["![the initialisation sweep against depth](figures/init_sweep.png)", "",
           "Dashed: a ratio of 1 (the gradient neither grows nor shrinks) and De & Smith's 1 / (block + 1).", ""]
    return md
