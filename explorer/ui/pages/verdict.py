import pandas as pd
import streamlit as st

from explorer.verdict.batchnorm import findings, norm_free_table
from explorer.charts.fair_batchnorm import study_chart, sweep_chart
from explorer.verdict import fair_batchnorm as fair_study
from explorer.verdict.core import NETS, build
from explorer.verdict.estimates import STATUS_MEANING
from explorer.verdict.rows import net_text
from explorer.ui.common import csv_button, guarded, load_runs
from explorer.ui.tables import show_table, wrapped_table

# coloured words, not emoji (a browser without an emoji font draws empty boxes)
STATUS_COLOR = {"supported": "green", "consistent, not diagnostic": "blue", "ruled out": "red", "not resolved": "gray", "too thin": "orange",
                "not measured": "orange"}


def _study_in_training():
    """The fair study's ended runs (finished or diverged) still in the zoo's training folder (its progress), none if
    there is none."""
    from explorer.runs import list_runs
    from explorer.settings import zoo_root
    folder = zoo_root() / ".training"
    try:
        listing = list_runs(folder, validate=False) if folder.is_dir() else None  # records only: no weights loaded
    except Exception:  # noqa: BLE001 - the study's progress is a side note: without it the section says so
        return []
    return [r for r in listing.runs if r.status in ("finished", "diverged")] if listing else []


@guarded
def render():
    st.title("Verdict")
    st.markdown(
        "Every explanation of the degradation problem, weighed against the runs present. Four nets: plain and residual "
        "(with BatchNorm) at a shallow and a deep depth, trained with one recipe on one data set; replicates are seeds. "
        "An explanation predicts a pattern, so each row tests the two contrasts it predicts on its measure, at the "
        "time point its paper names: the deep plain net against the shallow plain net, and against the deep "
        "residual net. Each contrast: Welch's difference of means (a ratio of geometric means for positive ratios) "
        "with its 95% CI (unadjusted) and the Holm-adjusted p over every planned contrast of the explanations on the "
        "page (family-wise 0.05; a contrast not measured yet counts as p = 1, one measure's test once; the "
        "degradation row, the premise, over its own two). Results come from the "
        "caches (shipped for the zoo): compute missing studies on the Separability and Mechanisms pages.")
    with st.expander("What the verdicts mean"):
        for k, v in STATUS_MEANING.items():
            st.markdown(f"- **{k}**: {v}.")
    runs, _ = load_runs(st.session_state.get("source", "both"))
    cifar = [r for r in runs if r.spec.family == "cifar" and r.status == "finished"]
    if not cifar:
        st.info("No finished run of the cifar family here: train plain and residual nets at two depths first.")
        return
    datasets = {}
    for r in cifar:
        datasets.setdefault(r.record.data.fingerprint, r.record.data.description)
    c1, c2, c3 = st.columns([2, 1, 1])
    fp = c1.selectbox("Data set", list(datasets), format_func=lambda f: f"{datasets[f]} ({f})", key="vd_data")
    depths = sorted({r.spec.depth for r in cifar if r.record.data.fingerprint == fp})
    if len(depths) < 2:
        st.info(f"Runs of only one depth ({depths[0]}) on this data set: a verdict compares two depths.")
        return
    shallow = c2.selectbox("Shallow depth", depths[:-1], index=depths[:-1].index(20) if 20 in depths[:-1] else 0, key="vd_s")
    deeper = [d for d in depths if d > shallow]
    deep = c3.selectbox("Deep depth", deeper, index=deeper.index(56) if 56 in deeper else 0, key="vd_d")
    v = build(cifar, shallow, deep, fp)
    if not v.rows:
        st.info("No plain or residual net with BatchNorm at these depths.")
        return
    st.caption("Nets: " + "; ".join(f"{k}: {len(ids)} run(s)" for k, ids in v.runs.items())
               + f" ({v.data}). A net with no run is reported as not measured. Rows at initialisation test the "
               "initialisation sweep instead (20 fresh initialisations a net, Mechanisms page, 'fresh initialisations').")
    for net, ids in v.untrained.items():
        st.caption(f"{net}: {len(ids)} run(s) never left chance (training accuracy below 1.5 × chance): they did not "
                   "train at this recipe, which is not degradation, and are left out of every contrast.")
    if v.sweep_note:
        st.caption(f"The rows at initialisation are not measured: {v.sweep_note}.")
    def short(c):  # one contrast in a cell: the outcome first, then the number
        if c.stats is None or c.stats.thin:
            return c.outcome
        return f"{c.outcome} ({'×' if c.stats.log_scale else 'Δ'} {c.stats.diff:.3g}, Holm p {c.holm_p:.2g})"
    # the answer first, every row, wrapped to the page's width (no horizontal scrolling)
    shown = pd.DataFrame([{"verdict": r.status, "explanation": r.explanation,
                           f"plain-{deep} vs plain-{shallow}": short(r.contrasts[0]),
                           f"plain-{deep} vs residual-{deep}": short(r.contrasts[1]), "time": r.time,
                           "measure": r.measure} for r in v.rows])
    wrapped_table(shown)
    with st.expander("Each net's value (mean, or geometric mean for ratios, with its 95% CI)"):
        keys = [f"{n}-{d}" for n in NETS for d in (shallow, deep)]
        wrapped_table(pd.DataFrame([{"measure": r.measure, **{k: net_text(r.values.get(k)) for k in keys}}
                                    for r in v.rows]))
    csv_button(v.to_frame(), "verdict.csv", "Download verdict CSV")
    st.subheader("In words")
    for r in v.rows:
        st.markdown(f"- **{r.explanation}** ({r.measure}; {r.time}): :{STATUS_COLOR.get(r.status, 'gray')}"
                    f"[**{r.status}**]. {r.verdict}" + (f" *{r.noise.capitalize()}.*" if r.noise else ""))

    st.subheader("BatchNorm's role, tested")
    st.caption("Residual nets without BatchNorm made trainable by SkipInit (a zero-initialised scalar on each branch, "
               "De & Smith 2020) or Fixup (Zhang et al. 2019), beside the same net with and without BatchNorm at the "
               "same recipe. Share of the gap closed: (no BN − scheme) / (no BN − BN) in test error; 1 = as good as "
               "BatchNorm. A net whose test accuracy ends within 2 points of chance (1/K) counts as not trained.")
    st.markdown("**At depth 20, learning rates chosen on a validation split (three seeds a net)**")
    with st.expander("What still differs from the papers' recipes, and why"):
        for d in fair_study.DEVIATIONS:
            st.markdown(f"- {d}")
    source = runs
    results = fair_study.compare(source)  # once a page: its bootstrap serves the words, the table and the chart
    fair = fair_study.sentences(source, results=results)
    if not fair:  # the study's runs join the zoo when it has finished: meanwhile its progress
        source = _study_in_training()
        results = fair_study.compare(source)
        fair = fair_study.sentences(source, results=results)
        st.caption("Training in progress (checkpoints/batchnorm_study.py): the runs join the zoo when the whole "
                   "study has finished." + (" So far:" if fair else " No run of it has finished yet."))
    for line in fair:
        st.markdown(f"- {line}")
    sweep, ft = fair_study.sweep(source), fair_study.table(source, results=results)
    if not ft.empty:
        st.altair_chart(study_chart(sweep, ft, fair_study.seed_errors(source, results=results)))
    elif not sweep.empty:
        st.altair_chart(sweep_chart(sweep))
    if not ft.empty:
        show_table(ft, all_rows=True)
        csv_button(ft, "batchnorm_fair.csv", "Download the fair comparison CSV")
    st.markdown("**Earlier runs at lr 0.1, one seed each (exploratory)**")
    nf = norm_free_table(runs)
    if nf.empty:
        st.info("No SkipInit or Fixup run here: train one (Train page, 'Without BatchNorm, train it with').")
    else:
        for line in findings(runs):
            st.markdown(f"- {line}")
        show_table(nf, all_rows=True)
        csv_button(nf, "batchnorm_role.csv", "Download BatchNorm-role CSV")


render()
