import streamlit as st

import pandas as pd

from explorer.analysis.table import analyze_run
from explorer.charts.common import degradation_chart
from explorer.analysis.gradients import late_ratio_table
from explorer.analysis.run_tables import answer_table, degradation_table
from explorer.ui.common import csv_button, guarded, load_runs, series_colors
from explorer.ui.tables import show_table, wrapped_table
from explorer.ui.datasets import data_status, download_button


def answers(runs, table) -> None:
    """The answer table: per depth and net, the numbers that weigh the explanations, mean ± 95% CI."""
    shown = [r for r in runs if r.id in set(table["run_id"])]
    bar = st.progress(0.0, text=f"Reading the gradient logs of {len(shown)} runs…")
    late = late_ratio_table(shown)
    sep = []
    for i, r in enumerate(shown):
        bar.progress((i + 1) / max(1, len(shown)), text=f"Reading the cached analyses ({i + 1}/{len(shown)})…")
        try:
            t = analyze_run(r, cached_only=True)
        except ValueError:
            t = None
        if t is not None:
            sep.append(t)
    bar.empty()
    ans = answer_table(table, late, pd.concat(sep) if sep else None)
    st.markdown("**The answer, in numbers** (mean ± 95% CI over the replicates of each condition, n = replicates)")
    wrapped_table(ans)  # every row and column in the page's width: the answer is not a scroll box
    csv_button(ans, "answer_table.csv", "Download answer table CSV")


@guarded
def render():
    st.title("Residual Explorer")
    st.markdown(
        "Deeper plain networks can train **worse** than shallower ones — the *degradation problem*. "
        "This app lets you see it with your own eyes and test the usual explanations on the same models:\n\n"
        "1. **Overfitting?** Compare train and test accuracy (Curves page): if deeper plain nets also have higher "
        "*training* error, overfitting does not explain it.\n"
        "2. **Vanishing gradients?** The mean |grad| of every stage at every step (Gradients page), first stage vs last.\n"
        "3. **Lost class information?** Fisher, LDA and mutual-information separability of the probe set's features "
        "at every stage (Separability page).\n\n"
        "The **Mechanisms** page tests the later explanations (ensembles of shallow paths, signal propagation and rank "
        "collapse, shattered gradients, the loss landscape), and the **Verdict** page weighs every explanation against "
        "the runs present, with confidence intervals over replicates.\n\n"
        "**Start:** pick models in the sidebar (depth, residual, BatchNorm), or train new ones on the Train page."
    )
    runs, _ = load_runs(st.session_state.get("source", "both"))
    st.subheader("Train and test error vs depth: plain vs residual")
    table = degradation_table(runs)
    datasets = sorted(table["dataset"].unique(), key=lambda d: (not d.startswith("CIFAR-10"), d))
    c1, c2 = st.columns(2)
    dataset = c1.selectbox("Data set", datasets, key="ov_data") if len(datasets) > 1 else (datasets[0] if datasets else None)
    band_kind = c2.radio("Band over replicates", ["95% CI", "std"], horizontal=True, key="ov_band")
    table = table[table["dataset"] == dataset] if dataset else table
    if table.empty:
        st.info("No finished runs yet: the chart shows He et al.'s reference numbers only.")
    else:
        st.caption(f"Data set: {dataset}. Each point averages the replicates of one condition.")
    # one above the other, full width: beside two half-width plots, the legend of the conditions' whole names
    # squeezed each plot to a sliver and was cut where the names differ
    untrained = table[table["did_not_train"]]
    if not untrained.empty:  # a failure to train at its recipe, not degradation: named, not drawn
        st.caption("Did not train at this recipe (training accuracy never left chance), left out of the lines: "
                   + "; ".join(f"{n}, depth {d}" for n, d in zip(untrained["net"], untrained["depth"])) + ".")
    every, table = table, table[~table["did_not_train"]]
    colors = series_colors(table)  # the hues of every other page: residual + BN is FULL's blue everywhere
    for value in ("train_error", "test_error"):  # titles as page text: Streamlit clips a title drawn after a caption
        st.markdown(f"**{value.replace('_', ' ')} vs depth** (lines: mean over replicates, bars: {band_kind}"
                    + ("; dashed black: He et al. 2016)" if value == "test_error" else ")"))
        st.altair_chart(degradation_chart(table, band_kind, value, colors).properties(title=""), width="stretch")
    st.caption("Top: training error (eval mode, no augmentation, 5,000 training images). If the deeper plain net's "
               "training error is higher, the degradation is an optimisation problem, not overfitting.")
    answers(runs, table)
    st.caption("Reference: He et al. 2016, *Deep Residual Learning for Image Recognition*, Table 6 "
               "(ResNet-20/32/44/56/110: 8.75 / 7.51 / 7.17 / 6.97 / 6.43 % test error, original CIFAR-10, 164 epochs). "
               "Runs here are shorter and some use a JPEG copy of CIFAR-10, so their absolute errors are higher.")
    ours = every.sort_values(["family", "depth", "net", "seed"])  # every run, with its did_not_train flag
    with st.expander(f"The numbers ({len(ours)} runs)"):
        show_table(ours)
        csv_button(every, "degradation.csv")
    st.subheader("Data")
    st.markdown(data_status())
    download_button("ov_download")


render()
