import streamlit as st

from explorer.charts.common import curves_chart, gap_chart
from explorer.analysis.run_tables import generalisation_gap, history_table, per_class_table
from explorer.ui.common import csv_button, guarded, need_runs, readable, Selection, selection


@guarded
def render(sel: Selection):
    st.title("Curves")
    st.caption("Train and test accuracy or loss per epoch. If a deeper plain net has *higher training error* too, "
               "the degradation is not overfitting.")
    runs = readable(list(sel.runs), "history")
    if not need_runs(runs, "training curves"):
        return
    labels, colors = sel.labels, sel.colors
    hist = history_table(runs, labels)
    c1, c2, c3 = st.columns(3)
    value = c1.radio("Show", ["accuracy", "loss"], horizontal=True, key="cv_value")
    agg = c2.radio("Replicates", ["each run", "mean ± 95% CI", "mean ± std"], horizontal=True, key="cv_agg",
                   help="Means and bands are over the replicates of one condition (same experiment, other seed) only; "
                        "an unfinished run is always drawn on its own.")
    clean = c3.toggle("clean train accuracy", value=True, key="cv_clean",
                      help="Eval mode, no augmentation, a fixed subset of training images. Off: the running accuracy "
                           "on augmented batches during training.")
    band_kind = {"each run": None, "mean ± 95% CI": "95% CI", "mean ± std": "std"}[agg]
    splits = ("train (clean)" if clean and (hist["split"] == "train (clean)").any() else "train", "test")
    st.altair_chart(curves_chart(hist, value, band_kind, splits, colors), width="stretch")
    st.caption("Click a legend entry to highlight it. " + (f"Band: {band_kind} over the replicates of each condition "
                                                           "(t-distribution for the CI), clipped to the metric's range."
                                                              if band_kind else ""))
    # the title as page text: Streamlit clips an Altair title drawn right after a caption
    st.markdown("**Generalisation gap** (clean train accuracy − test accuracy, per epoch)")
    st.altair_chart(gap_chart(generalisation_gap(hist), colors).properties(title=""), width="stretch")
    csv_button(hist, "curves.csv", "Download curves CSV")

    st.subheader("Per-class test accuracy")
    by_label = {labels.run[r.id]: r for r in runs}
    pick = st.selectbox("Run", list(by_label), key="cv_run")
    run = by_label[pick]
    n_epochs = len(run.history())
    epoch = st.slider("Epoch", 1, n_epochs, n_epochs, key=f"cv_epoch_{run.id}") if n_epochs > 1 else 1
    table = per_class_table(run, epoch)
    st.dataframe(table.style.format({"test_acc": "{:.2%}"}), hide_index=True)
    csv_button(table.assign(run_id=run.id, epoch=epoch), f"per_class_{run.id}_e{epoch}.csv", "Download per-class CSV")


render(selection())
