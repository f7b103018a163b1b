import streamlit as st

from explorer.charts import gradient_chart
from explorer.tables import gradient_table
from explorer.ui.common import csv_button, guarded, need_runs, readable


@guarded
def render():
    st.title("Gradients")
    st.caption("Seed 001: the mean |grad| of every stage's parameters at every step. Vanishing gradients would show "
               "as stage0's values falling orders of magnitude below the last stage's.")
    runs = readable(st.session_state.get("selected_runs", []), "gradlog")
    if not need_runs(runs, "gradient logs"):
        return
    all_stages = sorted({g for r in runs for g in r.gradlog().groups}, key=lambda s: (s == "head", s))
    last = max((s for s in all_stages if s.startswith("stage")), default="stage0")
    c1, c2, c3 = st.columns(3)
    stages = c1.multiselect("Stages", all_stages, default=["stage0", last], key="gr_stages")
    stat = c2.radio("Statistic", ["mean |grad|", "L2 norm"], horizontal=True, key="gr_stat")
    smooth = c3.slider("Smoothing (moving average, steps; 1 = none)", 1, 101, 1, step=2, key="gr_smooth")
    if not stages:
        st.info("Pick at least one stage.")
        return
    key = "mean_abs" if stat == "mean |grad|" else "l2"
    table = gradient_table(runs, stages, smooth=smooth, stat=key)
    st.altair_chart(gradient_chart(table, stat, smooth), use_container_width=True)
    st.caption("Downsampled for display: each point is a window of steps; the line is the window mean and the "
               "shaded band its min..max, so no spike is hidden.")
    csv_button(table, "gradients_display.csv", "Download displayed CSV")
    full = gradient_table(runs, stages, max_points=10**9, stat=key)
    csv_button(full[full["stat"] == "mean"].drop(columns="stat"), "gradients_all_steps.csv", "Download every step (CSV)")


render()
