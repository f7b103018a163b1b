import pandas as pd
import streamlit as st

from explorer.mechanism_analysis import KINDS, mechanism_table
from explorer.mechanism_charts import (PROFILE_MEASURES, SIGNAL_MEASURES, lesion_curve_chart, lesion_single_chart,
                                       profile_chart, signal_chart)
from explorer.tables import label_table
from explorer.ui.common import analysable, csv_button, guarded, need_runs, shown_labels

ABOUT = {
    "lesion": "Delete blocks at test time (Veit et al. 2016): a residual block's output becomes its shortcut's; a plain "
              "block whose shapes match becomes the identity. If residual nets behave like ensembles of shallow paths, "
              "deleting one block barely hurts them, while a plain net falls to chance.",
    "profile": "Where along the depth is class information made usable or lost? Every block's output (gap features) "
               "scored with the separability metrics, and linear CKA with the previous block.",
    "signal": "How the signal propagates, block by block (He et al. 2016 Fig. 7; De & Smith 2020; Daneshmand et al. "
              "2020): branch and output std, Var(branch)/Var(shortcut), the stable rank ‖H‖²_F/‖H‖²_2 of the outputs "
              "(rank collapse drives it towards 1) and the loss gradient's norm at each block.",
}


@guarded
def render():
    st.title("Mechanisms")
    runs = analysable(st.session_state.get("selected_runs", []))
    if not need_runs(runs, "mechanisms"):
        return
    labels, colors = shown_labels()
    kind = st.radio("Study", KINDS, horizontal=True, key="mx_kind",
                    format_func={"lesion": "lesion", "profile": "per-block profiles", "signal": "signal propagation"}.get)
    st.caption(ABOUT[kind])
    test_set = kind == "lesion" and st.toggle("also over the full test set (needs the data on this machine)",
                                               key="mx_test", help="Each block deleted over every test image; slower.")
    missing = [r for r in runs if mechanism_table(r, kind, cached_only=True, test_set=test_set) is None]
    if missing and not st.button(f"Run the {kind} study on {len(missing)} run(s)", key="mx_go", type="primary"):
        st.info(f"{len(missing)} of {len(runs)} selected runs have no cached {kind} study ("
                + ", ".join(labels.run[r.id] for r in missing[:5]) + "). It costs a few forward passes of the probe "
                "set a run; nothing is computed until you press the button.")
        return
    parts, bar = [], st.progress(0.0, text=f"{kind} study…")
    for i, run in enumerate(runs):
        bar.progress(i / len(runs), text=f"{labels.run[run.id]} ({i + 1}/{len(runs)})")
        try:
            parts.append(mechanism_table(run, kind, test_set=test_set))
        except ValueError as e:
            st.warning(f"{labels.run[run.id]} is skipped: {e}")
    bar.empty()
    if not parts:
        return
    df = label_table(pd.concat(parts, ignore_index=True), runs, labels)
    if kind == "lesion":
        st.markdown("**Accuracy with one block deleted at test time**")
        st.altair_chart(lesion_single_chart(df, colors).properties(title=""), use_container_width=True)
        st.caption("Gaps: plain blocks that change shape cannot be deleted. Dotted: chance. Dashed: stage boundaries.")
        st.altair_chart(lesion_curve_chart(df, colors), use_container_width=True)
        st.caption("Line: mean over random draws of k blocks; band: min..max over the draws.")
        if (df["view"] == "single (test set)").any():
            st.altair_chart(lesion_single_chart(df, colors, "single (test set)").properties(
                title="accuracy with one block deleted, over the full test set"), use_container_width=True)
    elif kind == "profile":
        measure = st.radio("Measure", list(PROFILE_MEASURES), horizontal=True, key="mx_prof", format_func=PROFILE_MEASURES.get)
        st.altair_chart(profile_chart(df, measure, colors), use_container_width=True)
    else:
        measure = st.radio("Measure", list(SIGNAL_MEASURES), horizontal=True, key="mx_sig",
                           format_func=lambda m: SIGNAL_MEASURES[m][0])
        st.altair_chart(signal_chart(df, measure, colors), use_container_width=True)
    st.dataframe(df, hide_index=True, use_container_width=True)
    csv_button(df, f"mechanisms_{kind}.csv", f"Download {kind} CSV")


render()
