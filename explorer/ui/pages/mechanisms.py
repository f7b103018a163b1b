import pandas as pd
import streamlit as st

from explorer.jobs import studies as study_jobs
from explorer.charts.landscape import landscape_contour, landscape_line_chart, landscape_surface, shatter_chart
from explorer.studies.analysis import KINDS, LandscapeSettings, ShatterSettings, mechanism_table
from explorer.charts.mechanisms import (PROFILE_MEASURES, SIGNAL_MEASURES, lesion_curve_chart, lesion_single_chart,
                                       profile_chart, signal_chart)
from explorer.analysis.run_tables import label_table
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
    "landscape": "The loss around the trained weights (Li et al. 2018) along filter-normalised random directions (each "
                 "filter of a direction scaled to the norm of the same filter of the weights; biases, BatchNorm "
                 "parameters and its running statistics not moved), and along the straight line from the initial "
                 "weights to the trained ones (Goodfellow et al. 2015). Deep plain nets are reported to have chaotic "
                 "surfaces where residual nets have smooth, nearly convex ones. Evaluated on a fixed subset of the "
                 "training split (the probe set when no training data is on this machine).",
    "shatter": "Shattered gradients (Balduzzi et al. 2017): the input gradient of the true class's logit at evenly "
               "spaced points on lines between two probe images of different classes, and the correlation of the "
               "gradients at two points against their distance. In deep plain nets it decays fast (white-noise "
               "gradients); skip connections keep it correlated. Correlation length: where it falls below 1/e.",
}
NAMES = {"lesion": "lesion", "profile": "per-block profiles", "signal": "signal propagation",
         "landscape": "loss landscape", "shatter": "shattered gradients"}


def landscape_settings() -> LandscapeSettings:
    c1, c2, c3 = st.columns(3)
    images = c1.select_slider("Training images", [250, 500, 1000, 2000, 5000], value=1000, key="ls_images")
    points = c2.select_slider("Points a 1-D slice", [11, 21, 41], value=21, key="ls_points")
    grid = c3.select_slider("2-D grid (points a side; 0 = none)", [0, 7, 11, 21, 31], value=11, key="ls_grid",
                            help="Each point is one pass over the images: 21 x 21 on resnet56 takes minutes on a CPU.")
    return LandscapeSettings(images=images, points=points, grid=grid)


@st.fragment(run_every=2)
def background(runs, kind, land, shat, names) -> None:
    """Progress of the studies started in the background; the page is drawn again each time one ends."""
    states = [study_jobs.status(r, kind, land, shat) for r in runs]
    for r, s in zip(runs, states):
        if s is None:
            continue
        if s.error:
            st.error(f"{names[r.id]}: the study stopped: {s.error}")
        elif s.running:
            st.progress(min(1.0, s.fraction), text=f"{names[r.id]}: {s.what} ({s.fraction:.0%})")
    running = {r.id for r, s in zip(runs, states) if s is not None and s.running}
    before, st.session_state["mx_running"] = st.session_state.get("mx_running", set()), running
    if before - running:  # a study has just ended: draw its result (once; an error stays shown above)
        st.rerun()


def landscape_views(df, colors, names) -> None:
    value = st.radio("Show", ["loss", "accuracy"], horizontal=True, key="ls_value")
    for view, title in (("line", "from the initial weights (α = 0) to the trained ones (α = 1)"),
                        ("1d", "along one filter-normalised random direction (0 = the trained weights)")):
        if (df["view"] == view).any():
            st.markdown(f"**{value.capitalize()} {title}**")
            st.altair_chart(landscape_line_chart(df, view, value, colors), width="stretch")
            if view == "line":
                st.caption("Evaluated in eval mode all along: at α = 0 BatchNorm's running statistics are those of a "
                           "fresh net (mean 0, variance 1), so it normalises nothing there, and a deep net with "
                           "BatchNorm can start at a very large loss.")
    two = df[df["view"] == "2d"]
    if two.empty:
        return
    st.markdown("**Two filter-normalised random directions** (log10 of the loss; the trained weights at the centre)")
    by_label = {names[r]: r for r in dict.fromkeys(two["run_id"])}
    c1, c2 = st.columns([2, 1])
    pick = c1.selectbox("Run", list(by_label), key="ls_run")
    shape = c2.radio("View", ["contour", "surface"], horizontal=True, key="ls_shape")
    one = two[two["run_id"] == by_label[pick]]
    fig = (landscape_contour if shape == "contour" else landscape_surface)(one, pick)
    st.plotly_chart(fig, width="stretch")


@guarded
def render():
    st.title("Mechanisms")
    runs = analysable(st.session_state.get("selected_runs", []))
    if not need_runs(runs, "mechanisms"):
        return
    labels, colors = shown_labels()
    kind = st.radio("Study", KINDS, horizontal=True, key="mx_kind", format_func=NAMES.get)
    st.caption(ABOUT[kind])
    test_set = kind == "lesion" and st.toggle("also over the full test set (needs the data on this machine)",
                                               key="mx_test", help="Each block deleted over every test image; slower.")
    land, shat = (landscape_settings() if kind == "landscape" else LandscapeSettings()), ShatterSettings()
    opts = {"test_set": test_set, "landscape": land, "shatter": shat}
    cached = {r.id: mechanism_table(r, kind, cached_only=True, **opts) for r in runs}  # read once, drawn below
    missing = [r for r in runs if cached[r.id] is None]
    if missing and kind == "landscape":
        def active(r):  # running, or stopped with a reason; a finished study whose result is gone can be restarted
            s = study_jobs.status(r, kind, land, shat)
            return s is not None and (s.running or bool(s.error))
        started = [r for r in missing if active(r)]
        if st.button(f"Compute the landscape of {len(missing)} run(s) in the background", key="mx_bg", type="primary"):
            for r in missing:
                study_jobs.start(r, kind, land, shat, owner=st.session_state.get("session_owner", ""))
            started = missing
        st.info(f"{len(missing)} of {len(runs)} selected runs have no landscape at these settings ("
                + ", ".join(labels.run[r.id] for r in missing[:5]) + f"). It costs {land.points * 2 + land.grid ** 2} "
                f"passes over {land.images} images a run, computed in the background: you can leave this page.")
        if started:
            background(started, kind, land, shat, labels.run)
        if len(missing) == len(runs):
            return
        runs = [r for r in runs if r not in missing]
    elif missing and not st.button(f"Run the {kind} study on {len(missing)} run(s)", key="mx_go", type="primary"):
        st.info(f"{len(missing)} of {len(runs)} selected runs have no cached {kind} study ("
                + ", ".join(labels.run[r.id] for r in missing[:5]) + "). It costs a few forward passes of the probe "
                "set a run; nothing is computed until you press the button.")
        return
    parts, bar = [], st.progress(0.0, text=f"{kind} study…")
    for i, run in enumerate(runs):
        bar.progress(i / len(runs), text=f"{labels.run[run.id]} ({i + 1}/{len(runs)})")
        try:
            parts.append(cached[run.id] if cached[run.id] is not None else mechanism_table(run, kind, **opts))
        except ValueError as e:
            st.warning(f"{labels.run[run.id]} is skipped: {e}")
    bar.empty()
    if not parts:
        return
    df = label_table(pd.concat(parts, ignore_index=True), runs, labels)
    if kind == "lesion":
        st.markdown("**Accuracy with one block deleted at test time**")
        st.altair_chart(lesion_single_chart(df, colors).properties(title=""), width="stretch")
        st.caption("Gaps: plain blocks that change shape cannot be deleted. Dotted: chance. Dashed: stage boundaries.")
        st.altair_chart(lesion_curve_chart(df, colors), width="stretch")
        st.caption("Line: mean over random draws of k blocks; band: min..max over the draws.")
        if (df["view"] == "single (test set)").any():
            st.altair_chart(lesion_single_chart(df, colors, "single (test set)").properties(
                title="accuracy with one block deleted, over the full test set"), width="stretch")
    elif kind == "profile":
        measure = st.radio("Measure", list(PROFILE_MEASURES), horizontal=True, key="mx_prof", format_func=PROFILE_MEASURES.get)
        st.altair_chart(profile_chart(df, measure, colors), width="stretch")
    elif kind == "signal":
        measure = st.radio("Measure", list(SIGNAL_MEASURES), horizontal=True, key="mx_sig",
                           format_func=lambda m: SIGNAL_MEASURES[m][0])
        st.altair_chart(signal_chart(df, measure, colors), width="stretch")
    elif kind == "landscape":
        landscape_views(df, colors, labels.run)
    else:
        st.markdown("**Correlation of input gradients against distance** (mean over the lines; dotted: 1/e)")
        st.altair_chart(shatter_chart(df, colors), width="stretch")
        lengths = df.groupby(["label", "condition_label"], as_index=False)[["length", "censored"]].first()
        st.caption("Correlation length (fraction of the line where the correlation first falls below 1/e; "
                   "censored = never fell, a lower bound): "
                   + "; ".join(f"{r.label}: {r.length:.3f}{' (lower bound)' if r.censored else ''}"
                               for r in lengths.itertuples()))
    st.dataframe(df, hide_index=True, width="stretch")
    csv_button(df, f"mechanisms_{kind}.csv", f"Download {kind} CSV")


render()
