import pandas as pd
import streamlit as st

from explorer import separability as sep
from explorer.analysis.table import DEFAULT_METRICS, analyze_each, analyze_run, run_features
from explorer.analysis.inputs import inputs_for
from explorer.analysis.views import stage_points
from explorer.charts.common import cka_heatmap, scatter_chart, separability_chart
from explorer.runs import Run
from explorer.analysis.run_tables import label_table
from explorer.ui.progress import Bar
from explorer.ui.words import app_words
from explorer.ui.tables import show_table
from explorer.ui.common import analysable, csv_button, guarded, need_runs, Selection, selection


def is_cached(run: Run, reduction: str, metrics: tuple[str, ...]) -> bool:
    """Whether the run's table is in the cache (the user's or the shipped one); never computes."""
    try:
        return analyze_run(run, None, reduction, list(metrics), cached_only=True) is not None
    except ValueError:
        return True  # it cannot be analysed at all: the loop below says why


def _mtime(run: Run) -> float:
    return run.weights_file().stat().st_mtime


@st.cache_data(show_spinner=False, max_entries=64)
def cached_table(run_path: str, mtime: float, reduction: str, metrics: tuple[str, ...], _run: Run) -> pd.DataFrame:
    return analyze_run(_run, None, reduction, list(metrics))


@st.cache_resource(show_spinner=False, max_entries=6)  # shared, not copied: flat maps can be large
def cached_features(run_path: str, mtime: float, reduction: str, _run: Run) -> dict:
    return run_features(inputs_for(_run), reduction)


MAX_CKA_RUNS = 8  # runs in the across-runs CKA map (a 64-cell matrix; more would not be readable)


def _cka_rows(names: list[str], feats: list) -> list[dict]:
    M = sep.cka_matrix(feats)
    return [{"a": a, "b": b, "cka": float(M[i, j])} for i, a in enumerate(names) for j, b in enumerate(names)]


def cka_section(runs: list[Run], run: Run, stage: str, names: dict[str, str]) -> None:
    st.subheader("Linear CKA")
    st.caption("Linear centred kernel alignment (Kornblith et al. 2019) of the probe features: 1 = the same "
               "representation up to rotation and scale, 0 = unrelated. First: every pair of stages of the run above; "
               "then: the chosen stage across the selected runs (global-average-pooled features).")
    feats = cached_features(str(run.path), _mtime(run), "gap", run)
    stages = list(feats)
    rows = _cka_rows(stages, [feats[s] for s in stages])
    st.altair_chart(cka_heatmap(pd.DataFrame(rows), f"{names[run.id]}: stage vs stage"), width="content")
    same = [r for r in runs if stage in r.spec.stage_names]
    if len(same) > 1:
        shown = same[:MAX_CKA_RUNS]
        fs = {names[r.id]: cached_features(str(r.path), _mtime(r), "gap", r)[stage] for r in shown}
        rows = _cka_rows(list(fs), list(fs.values()))
        # full width: the run labels are long, and every one of them must show
        st.altair_chart(cka_heatmap(pd.DataFrame(rows), f"{stage} across runs"), width="content")
        if len(same) > len(shown):
            st.caption(f"The first {len(shown)} of the {len(same)} selected runs; pick runs by name to compare others.")
    else:
        st.info("Select two or more runs to compare the same stage across models.")


@st.cache_data(show_spinner=False, max_entries=16)
def cached_points(run_path: str, mtime: float, stage: str, reduction: str, method: str, _run: Run) -> pd.DataFrame:
    return stage_points(_run, stage, reduction, method)


@guarded
def render(sel: Selection):
    st.title("Separability")
    st.markdown(
        "How well can the classes of a fixed probe set (500 test images, 50 a class) be told apart from each stage's "
        "features? *Fisher* ratios measure class spread against within-class spread; *LDA accuracy* is a 5-fold "
        "cross-validated estimate (it has noise of a few points); *usable information* is a held-out **lower bound** on "
        "I(Z;Y) in bits, not its true value, and the kNN MI is an estimate. In a deterministic net the true class "
        "information cannot grow with depth: these scores track how *usable* it is.")
    runs = analysable(list(sel.runs))
    if not need_runs(runs, "separability"):
        return
    c1, c2 = st.columns([1, 3])
    reduction = c1.radio("Reduction", ["gap", "flat"], horizontal=True, key="sp_red",
                         help="gap: global average pool (C dims); flat: the whole map (C·H·W dims)")
    metrics = c2.multiselect("Metrics", list(sep.METRICS), default=DEFAULT_METRICS, key="sp_metrics",
                             format_func=lambda m: m)
    if not metrics:
        st.info("Pick at least one metric.")
        return
    with st.expander("What the metrics are"):
        for m in metrics:
            st.markdown(f"- **{m}**: {sep.METRIC_INFO.get(m, '')}")
    shown, colors = sel.labels, sel.colors
    names = shown.run
    missing = [r for r in runs if not is_cached(r, reduction, tuple(metrics))]
    go = st.empty()  # the button leaves once its runs are analysed (it would still offer them below the results)
    if missing and not go.button(f"Analyse {len(missing)} run(s) not analysed yet", key="sp_go", type="primary"):
        st.info(f"{len(missing)} of the {len(runs)} selected runs have no cached analysis for these settings: "
                + ", ".join(names[r.id] for r in missing[:6]) + ("…" if len(missing) > 6 else "")
                + ". Analysing costs about one forward pass of the probe set and a few seconds of metrics a run; "
                "nothing is computed until you press the button, so moving the sidebar costs nothing.")
        return
    failed = {}
    if missing:  # one after the other, a run's last stages scored while the next one's features are extracted
        bar = Bar("analysing…")  # its text ends with the time left, measured on the runs analysed so far
        step = lambda i, f, msg: bar.update((i + f) / len(missing),  # noqa: E731
                                            f"{names[missing[i].id]}: {msg} ({i + 1}/{len(missing)})")
        for run, result in analyze_each(missing, None, reduction, list(metrics), progress=step):
            if isinstance(result, ValueError):
                failed[run.id] = result
        bar.empty()
    tables = []
    for run in runs:  # now from the cache
        try:
            if run.id in failed:
                raise failed[run.id]
            tables.append(cached_table(str(run.path), _mtime(run), reduction, tuple(metrics), run))
        except ValueError as e:  # one run that cannot be analysed never stops the others
            st.warning(f"{names[run.id]} is skipped: {app_words(str(e))}")
    go.empty()
    if not tables:
        return
    table = label_table(pd.concat(tables, ignore_index=True), runs, shown)
    agg = st.radio("Replicates", ["each run", "mean ± 95% CI", "mean ± std"], horizontal=True, key="sp_agg",
                   help="Means and bands are over the replicates of one condition (same experiment, other seed) only.")
    band_kind = {"each run": None, "mean ± 95% CI": "95% CI", "mean ± std": "std"}[agg]
    st.altair_chart(separability_chart(table, band_kind, colors), width="content")
    for note in sorted(set(table["probe_note"].dropna().astype(str)) - {""}):
        st.info(note)
    notes = table[table["note"].astype(str) != ""]
    if not notes.empty:
        st.warning("Some values are NaN: " + "; ".join(sorted(set(notes["run_id"] + " " + notes["stage"] + ": " + notes["note"])))[:600])
    show_table(table)
    csv_button(table, "separability.csv", "Download analysis CSV")

    st.subheader("Probe features in 2-D")
    labels = {names[r.id]: r for r in runs}
    c3, c4, c5 = st.columns(3)
    run = labels[c3.selectbox("Run", list(labels), key="sp_run")]
    stage = c4.selectbox("Stage", run.spec.stage_names, index=len(run.spec.stage_names) - 1, key="sp_stage")
    method = c5.radio("Projection", ["PCA", "LDA"], horizontal=True, key="sp_method")
    try:
        with st.spinner(f"Projecting {stage} of {names[run.id]}…"):
            pts = cached_points(str(run.path), _mtime(run), stage, reduction, method, run)
        st.altair_chart(scatter_chart(pts, f"{names[run.id]} · {stage} · {method} of {reduction} features"),
                        width="stretch")
    except ValueError as e:  # degenerate features (a run at chance): say so, keep the CKA views
        st.warning(app_words(str(e)))
    cka_section(runs, run, stage, names)


render(selection())
