import pandas as pd
import streamlit as st

from explorer.analysis.run_tables import runs_table
from explorer.ui.common import csv_button, guarded, load_runs
from explorer.ui.tables import show_table


def grouped(table: pd.DataFrame) -> pd.DataFrame:
    """One row a condition: its replicates' count, and the mean ± std of their final accuracies (finished runs only)."""
    done = table[table["status"].isin(["finished", "imported"])].copy()
    if done.empty:
        return pd.DataFrame()
    first = done.groupby("condition").first()
    agg = done.groupby("condition").agg(replicates=("run_id", "count"), seeds=("seed", lambda s: ", ".join(
        str(int(v)) for v in sorted(s.dropna()))), **{"train_acc % mean": ("train_acc %", "mean"), "train_acc % std": ("train_acc %", "std"),
           "test_acc % mean": ("test_acc %", "mean"), "test_acc % std": ("test_acc %", "std")})
    cols = ["model", "variant", "depth", "dataset", "lr", "epochs"]
    out = first[cols].join(agg).reset_index()
    out.insert(1, "condition_text", first["condition_text"].tolist())
    return out


@guarded
def render():
    st.title("Runs")
    st.caption("Every run of the source chosen in the sidebar. A *condition* is the experiment without its seed; runs "
               "of one condition are replicates. Tick rows and press the button to make them the selection of the "
               "other pages.")
    runs, broken = load_runs(st.session_state.get("source", "both"))
    if not runs:
        st.info("No runs here yet: train one on the Train page, or pick the shipped zoo in the sidebar.")
        return
    table = runs_table(runs)
    for col in ("train_acc", "test_acc"):  # accuracy in % on every page
        table[col] = 100 * pd.to_numeric(table[col], errors="coerce")
    table = table.rename(columns={"train_acc": "train_acc %", "test_acc": "test_acc %"})
    c1, c2, c3 = st.columns(3)
    text = c1.text_input("Filter (label or run id contains)", key="rn_text")
    statuses = c2.multiselect("Status", sorted(table["status"].unique()), key="rn_status")
    datasets = c3.multiselect("Data set", sorted(table["dataset"].unique()), key="rn_data")
    shown = table
    if text:
        shown = shown[shown["label"].str.contains(text, case=False, regex=False)
                      | shown["run_id"].str.contains(text, case=False, regex=False)]
    if statuses:
        shown = shown[shown["status"].isin(statuses)]
    if datasets:
        shown = shown[shown["dataset"].isin(datasets)]
    if st.toggle("Group by condition (mean ± std over replicates)", key="rn_group"):
        g = grouped(shown)
        show_table(g)
        csv_button(g, "conditions.csv", "Download conditions CSV")
        return
    event = show_table(shown, on_select="rerun", selection_mode="multi-row", key="rn_table")
    picked = shown.iloc[event.selection.rows]["label"].tolist() if event and event.selection.rows else []
    if st.button(f"Use the {len(picked)} ticked run(s) as the selection", key="rn_use", disabled=not picked):
        st.session_state["pending_pick"] = picked
        st.rerun()
    csv_button(shown, "runs.csv", "Download runs CSV")
    if broken:
        st.caption(f"{len(broken)} folder(s) are not valid runs and are skipped; the sidebar lists them.")


render()
