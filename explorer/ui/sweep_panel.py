"""The Mechanisms page's view of fresh initialisations: the shipped initialisation sweep against depth."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.charts.init_sweep import MEASURE_TITLES, branch_chart, net_name, sweep_chart
from explorer.studies.init_measures import DEPTHS
from explorer.ui.common import csv_button
from explorer.ui.tables import show_table
from explorer.verdict.init_summary import load_sweep, summarise_sweep, sweep_contrasts

ABOUT = ("Measured on freshly initialised nets (no training): plain and residual, with and without BatchNorm, at "
         "depths 8 to 110, 20 initialisations (seeds 0-19) each, on the 500 probe images; BatchNorm normalises with "
         "the batch's own statistics, as in the first training step. Lines: the mean over the initialisations (the "
         "geometric mean on a log axis); bands: its 95% CI (t, on the log scale for a positive ratio). Shattered "
         "gradients use the batch statistics frozen, so that each point of a line is a function of its input alone "
         "(explorer/studies/init_measures.py). The verdict's rows \"at initialisation\" test these numbers.")
PREDICTED = {"grad_ratio": (+1, +1), "stable_rank": (-1, -1), "lag1": (-1, -1), "corr_length": (-1, -1)}


@st.cache_data(show_spinner=False, max_entries=1)
def _sweep():
    frame = load_sweep()
    if frame is None:
        return None, None, None
    return frame, summarise_sweep(frame), summarise_sweep(frame, blocks=True)


def render_sweep() -> None:
    st.caption(ABOUT)
    try:
        frame, summary, blocks = _sweep()
    except ValueError as e:
        st.error(f"The initialisation sweep cannot be read: {e}")
        return
    if frame is None:
        st.info("The initialisation sweep (checkpoints/studies/init_sweep.csv) is not in this copy of the project; "
                "python checkpoints/init_sweep.py computes it (about 85 minutes on two CPU cores).")
        return
    measure = st.radio("Measure", list(MEASURE_TITLES), horizontal=True, key="sw_measure",
                       format_func=lambda m: MEASURE_TITLES[m].split(" (")[0])
    st.altair_chart(sweep_chart(summary, measure), width="stretch")
    if measure in PREDICTED:
        bn = st.toggle("With BatchNorm (the verdict's nets)", value=True, key="sw_bn")
        c = sweep_contrasts(frame, measure, PREDICTED[measure], batchnorm=bn)
        st.caption("Plain-56 against plain-20 and against residual-56 (Welch on "
                   + ("the log values: a ratio" if bool(c["log_scale"].iloc[0]) else "the values: a difference")
                   + ", Holm over these two only; the Verdict page corrects over its whole page), with the direction "
                   "the explanation of degradation predicts; the 95% CIs are unadjusted:")
        c = c.assign(p_holm=[f"{v:.2g}" for v in c["p_holm"]])  # a p of 1e-24 as such, not as 0.000…
        show_table(c[["contrast", "diff", "ci_low", "ci_high", "p_holm", "hedges_g", "outcome", "n_a", "n_b"]]
                   .rename(columns={"diff": "difference or ratio", "ci_low": "95% CI low", "ci_high": "95% CI high",
                                    "p_holm": "Holm p", "hedges_g": "Hedges g"}), all_rows=True)
    if measure == "branch_var_ratio_mean":
        depth = st.select_slider("Depth, block by block", [d for d in DEPTHS if d >= 14], value=56, key="sw_depth")
        st.altair_chart(branch_chart(blocks, depth), width="stretch")
        st.caption("De & Smith 2020: with BatchNorm the skip path's variance grows about one a block while the "
                   "normalised branch keeps variance about 1, so the ratio falls with depth and deep blocks start "
                   "close to the identity (their 1 / (block + 1) is the idealised rate, dashed; the measured ratio falls "
                   "like it, above it); without BatchNorm branch and skip grow together and the ratio does not fall. "
                   "The jumps are the stage boundaries, where the shortcut (option A) subsamples and pads with zero "
                   "channels, so the skip path's variance drops.")
    table = summary[summary["measure"] == measure].copy()
    table.insert(0, "net", [net_name(r, b) for r, b in zip(table["residual"], table["batchnorm"])])
    table = table.rename(columns={"centre": "mean (geometric if log_scale)", "ci_low": "95% CI low",
                                  "ci_high": "95% CI high", "n": "initialisations"})
    show_table(table[["mean (geometric if log_scale)", "95% CI low", "95% CI high", "initialisations", "net", "depth",
                      "log_scale"]], all_rows=True)
    c1, c2 = st.columns(2)
    with c1:
        csv_button(summary, "init_sweep_summary.csv", "Download the summary (CSV)")
    with c2:
        csv_button(frame, "init_sweep.csv", "Download every initialisation (CSV)")
