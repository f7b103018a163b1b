import streamlit as st

from explorer.charts.common import gradient_panels, late_ratio_chart, ratio_chart
from explorer.analysis.gradients import gradient_summary, gradient_table, late_ratio_table, ratio_table
from explorer.ui.tables import show_table
from explorer.ui.common import csv_button, guarded, lazy_csv_button, need_runs, readable, Selection, selection

STATS = {"mean |grad|": "mean_abs", "L2 norm": "l2"}


@guarded
def render(sel: Selection):
    st.title("Gradients")
    runs = readable(list(sel.runs), "gradlog")
    if not need_runs(runs, "gradient logs"):
        return
    labels, colors = sel.labels, sel.colors
    all_stages = sorted({g for r in runs for g in r.gradlog().groups}, key=lambda s: (s == "head", s))
    last = max((s for s in all_stages if s.startswith("stage")), default="stage0")
    c1, c2, c3, c4 = st.columns(4)
    stages = c1.multiselect("Stages", all_stages, default=["stage0", last], key="gr_stages")
    stat = c2.radio("Statistic", list(STATS), horizontal=True, key="gr_stat")
    smooth = c3.slider("Smoothing (moving average, steps; 1 = none)", 1, 101, 25, step=2, key="gr_smooth")
    per_run = c4.toggle("each run on its own", key="gr_each",
                        help="Off: a panel a condition, its replicates aggregated (median, band min..max).")
    if not stages:
        st.info("Pick at least one stage.")
        return
    key = STATS[stat]
    table = gradient_table(runs, stages, max_points=300, smooth=smooth, stat=key, labels=labels)
    note = f"moving average of {smooth} steps" if smooth > 1 else "raw per-step values"
    st.caption(f"The {stat} of each stage's parameter gradient at every optimisation step ({note}), "
               + ("a panel a run." if per_run else "a panel a condition, its replicates aggregated.")
               + " If stage0's values sit orders of magnitude below the last stage's, the early layers barely learn: "
                 "that is what a vanishing gradient looks like.")
    chart = gradient_panels(table if per_run else gradient_summary(table), stat, note, aggregated=not per_run)
    st.altair_chart(chart, width="content")
    csv_button(table, "gradients_display.csv", "Download displayed CSV")

    st.subheader("Vanishing-gradient test")
    st.caption(f"The ratio of stage0's {stat} to the last stage's ({last}), step by step (smoothed over 25 steps). "
               "A ratio near 1 means the first layers receive gradients as large as the last; far below 1 "
               "(10⁻² and less) means they vanish. Left: over training, the median over a condition's replicates "
               "(dashed: 1 = equal). Right: its median over the last 10% of training against depth; bars: min..max "
               "over replicates.")
    ratios = ratio_table(runs, stat=key, labels=labels)
    late = late_ratio_table(runs, stat=key, labels=labels)
    c5, c6 = st.columns(2)
    c5.markdown("**stage0 / last stage over training** (median over replicates)")
    c6.markdown("**late-training ratio against depth** (last 10% of steps)")
    c5.altair_chart(ratio_chart(ratios, colors), width="stretch")
    c6.altair_chart(late_ratio_chart(late, colors), width="stretch")
    worst = late.sort_values("ratio").head(1)
    if not worst.empty and worst["ratio"].iloc[0] == worst["ratio"].iloc[0]:
        st.caption(f"Smallest late-training ratio here: {worst['ratio'].iloc[0]:.2e} ({worst['run'].iloc[0]}).")
    show_table(late[["run", "condition", "depth", "variant", "net", "ratio"]],
               column_config={"ratio": st.column_config.NumberColumn(format="%.3e")})
    csv_button(late, "vanishing_gradient_test.csv", "Download vanishing-gradient test CSV")
    def every_step():
        full = gradient_table(runs, stages, max_points=10**9, stat=key, labels=labels)
        return full[full["stat"] == "mean"].drop(columns="stat")
    lazy_csv_button(every_step, "gradients_all_steps.csv", "Download every step (CSV)")


render(selection())
