"""Mechanisms: every registered study (explorer.studies.catalog), its settings' widgets, its cached or
computed tables and its views; long studies run in the background with progress."""
from dataclasses import fields

import pandas as pd
import streamlit as st

from explorer.analysis.run_tables import label_table
from explorer.jobs import studies as study_jobs
from explorer.studies.catalog import REGISTRY, study_table
from explorer.studies.catalog.images import separate_image_sets
from explorer.ui.progress import Bar, observed_left, study_estimate
from explorer.ui.tables import show_table
from explorer.ui.common import analysable, csv_button, guarded, need_runs, Selection, selection


def settings_widgets(study):
    """Widgets for the study's settings that the page offers (``page_fields``); the others keep their defaults."""
    values, fs = {}, [f for f in fields(study.settings) if f.name in study.page_fields]
    cols = st.columns(max(1, len(fs))) if fs else []
    for col, f in zip(cols, fs):
        m = f.metadata
        key = m.get("widget_key") or f"mx_{study.name}_{f.name}"
        if isinstance(f.default, bool):
            values[f.name] = col.toggle(m["label"], value=f.default, key=key, help=m["help"])
        elif m.get("widget_values"):
            values[f.name] = col.select_slider(m["label"], m["widget_values"], value=f.default, key=key, help=m["help"])
        elif m.get("choices"):
            values[f.name] = col.selectbox(m["label"], list(m["choices"]), key=key, help=m["help"])
        else:
            values[f.name] = col.number_input(m["label"], value=f.default, min_value=m.get("lo"),
                                              max_value=m.get("hi"), key=key, help=m["help"])
    return study.from_values(values)


@st.fragment(run_every=2)
def background(runs, kind, settings, names) -> None:
    """Progress of the studies started in the background; the page is drawn again each time one ends."""
    states = [study_jobs.status(r, kind, settings) for r in runs]
    for r, s in zip(runs, states):
        if s is None:
            continue
        if s.error:
            st.error(f"{names[r.id]}: the study stopped: {s.error}")
        elif s.running:
            left = observed_left((r.id, kind), s.fraction)
            st.progress(min(1.0, s.fraction), text=f"{names[r.id]}: {s.what} ({s.fraction:.0%})"
                                                   + (f"; {left}" if left else ""))
    running = {r.id for r, s in zip(runs, states) if s is not None and s.running}
    before, st.session_state["mx_running"] = st.session_state.get("mx_running", set()), running
    if before - running:  # a study has just ended: draw its result (once; an error stays shown above)
        st.rerun()


@guarded
def render(sel: Selection):
    st.title("Mechanisms")
    if st.radio("Measured on", ["the selected runs", "fresh initialisations (depths 8-110, 20 each)"], horizontal=True,
                key="mx_on") != "the selected runs":
        from explorer.ui.sweep_panel import render_sweep
        render_sweep()
        return
    runs = analysable(list(sel.runs))
    if not need_runs(runs, "mechanisms"):
        return
    labels, colors = sel.labels, sel.colors
    kind = st.radio("Study", list(REGISTRY), horizontal=True, key="mx_kind", format_func=lambda k: REGISTRY[k].title)
    study = REGISTRY[kind]
    st.caption(study.about)
    settings = settings_widgets(study)
    cached = {r.id: study_table(r, study, settings, cached_only=True) for r in runs}  # read once, drawn below
    missing = [r for r in runs if cached[r.id] is None]
    if missing and study.background:
        def active(r):  # running, or stopped with a reason; a finished study whose result is gone can be restarted
            s = study_jobs.status(r, kind, settings)
            return s is not None and (s.running or bool(s.error))
        started = [r for r in missing if active(r)]
        if st.button(f"Compute the {kind} of {len(missing)} run(s) in the background", key="mx_bg", type="primary"):
            for r in missing:
                study_jobs.start(r, kind, settings, owner=st.session_state.get("session_owner", ""))
            started = missing
        cost = f" It costs {study.cost(settings)}," if study.cost else ""
        estimate = study_estimate(study.cost(settings), [r.spec for r in missing]) if study.cost else ""
        cost += f" {estimate}," if estimate else ""
        st.info(f"{len(missing)} of {len(runs)} selected runs have no {study.title} at these settings ("
                + ", ".join(labels.run[r.id] for r in missing[:5]) + f").{cost} computed in the background: you can "
                "leave this page.")
        if started:
            background(started, kind, settings, labels.run)
        if len(missing) == len(runs):
            return
        runs = [r for r in runs if r not in missing]
    elif missing and not st.button(f"Run the {kind} study on {len(missing)} run(s)", key="mx_go", type="primary"):
        st.info(f"{len(missing)} of {len(runs)} selected runs have no cached {kind} study ("
                + ", ".join(labels.run[r.id] for r in missing[:5]) + "). It costs a few forward passes of the probe "
                "set a run; nothing is computed until you press the button.")
        return
    parts, bar = [], Bar(f"{kind} study…")
    for i, run in enumerate(runs):
        bar.update(i / len(runs), f"{labels.run[run.id]} ({i + 1}/{len(runs)})")
        try:
            parts.append(cached[run.id] if cached[run.id] is not None else study_table(run, study, settings))
        except ValueError as e:
            st.warning(f"{labels.run[run.id]} is skipped: {e}")
    bar.empty()
    if not parts:
        return
    df = label_table(pd.concat(parts, ignore_index=True), runs, labels)
    df, colors = separate_image_sets(df, colors)  # a result on other images is its own condition
    if "images_from" in df.columns:
        st.caption("Images used: " + "; ".join(f"{k} ({v} run(s))" for k, v in df.drop_duplicates("run_id")
                                                  ["images_from"].value_counts().items()))
    if study.page is not None:
        study.page(df, colors, labels.run, st)
    else:
        st.altair_chart(study.chart(df, colors), width="stretch")
    show_table(df)  # the values first, the run's label and ids after them; a missing value as "-"
    csv_button(df, f"mechanisms_{kind}.csv", f"Download {kind} CSV")


render(selection())
