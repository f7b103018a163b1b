"""The studies behind the verdict's new rows: curvature at the trained weights, the last stage over several
CV shuffles, and the initialisation sweep's table, charts and page."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.runs import list_runs
from explorer.studies.catalog import REGISTRY, study_table

ROOT = Path(__file__).resolve().parents[1]


def test_curvature_study_on_a_digits_run(digits_runs):
    run = list_runs(digits_runs).runs[0]
    study = REGISTRY["curvature"]
    cfg = study.from_values({"images": 40, "steps": 8, "samples": 3, "tol": 0.01})
    t = study_table(run, study, cfg)
    row = t.iloc[0]
    assert row["lambda_max"] >= row["lambda_min"] and row["lanczos_steps"] <= 8 and row["trace_samples"] == 3
    assert row["ratio"] == pytest.approx(abs(row["lambda_min"] / row["lambda_max"]))
    assert row["images"] == 40 and "training images" in row["images_from"] and np.isfinite(row["trace_se"])
    again = study_table(run, study, cfg, cached_only=True)  # cached under its settings
    assert again is not None and again.iloc[0]["lambda_max"] == row["lambda_max"]
    assert study_table(run, study, study.from_values({"images": 41, "steps": 8, "samples": 3}), cached_only=True) is None
    with pytest.raises(ValueError, match="tol must be"):
        study.from_values({"tol": 2.0})


def test_cv_repeat_shuffle_zero_is_the_separability_table():
    """Shuffle 0 is the table's own fold shuffle: the same number; the others only reshuffle the folds."""
    from explorer.analysis.table import analyze_run
    from explorer.studies.catalog.cv_repeat import run_spread
    zoo = {r.id: r for r in list_runs(ROOT / "checkpoints").runs}
    run = zoo["resnet56-nores-s0-20261122-212940-d21d"]
    rep = study_table(run, "cv-repeat", cached_only=True)  # shipped
    assert rep is not None and sorted(rep["cv_seed"].unique()) == [0, 1, 2, 3, 4]
    table = analyze_run(run, cached_only=True)
    last = table[(table["stage"] == run.spec.stage_names[-1])].set_index("metric")["value"]
    for metric in ("lda_accuracy", "mi_probe_bits"):
        zero = rep[(rep["metric"] == metric) & (rep["cv_seed"] == 0)]["value"].iloc[0]
        assert zero == pytest.approx(last[metric], rel=1e-9)
        mean, sd, n = run_spread(rep, metric)
        assert n == 5 and 0 < sd < 0.1 * abs(mean)


def test_run_spread_known_answer():
    from explorer.studies.catalog.cv_repeat import run_spread
    f = pd.DataFrame({"metric": ["a"] * 4 + ["b"], "value": [1.0, 2.0, 3.0, np.nan, 9.0]})
    assert run_spread(f, "a") == (2.0, 1.0, 3)
    mean, sd, n = run_spread(f, "b")
    assert (mean, n) == (9.0, 1) and np.isnan(sd)


def test_the_sweep_file_is_read_through_the_door_and_checked(tmp_path):
    from explorer.verdict.init_summary import load_sweep
    assert load_sweep(tmp_path) is None  # not there: no rows at initialisation, no error
    (tmp_path / "init_sweep.csv").write_text("depth,value\n8,1.0\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        load_sweep(tmp_path)
    full = (ROOT / "checkpoints" / "studies" / "init_sweep.csv").read_bytes()
    (tmp_path / "init_sweep.csv").write_bytes(full[:3001])  # a copy cut short, mid-row
    with pytest.raises(ValueError, match="cut short"):
        load_sweep(tmp_path)
    (tmp_path / "init_sweep.csv").unlink()
    (tmp_path / "init_sweep.csv").mkdir()
    with pytest.raises(ValueError):
        load_sweep(tmp_path)


def test_sweep_charts_log_axis_where_it_spans_decades_and_the_identity_reference():
    from explorer.charts.init_sweep import branch_chart, log_axis, sweep_chart
    from explorer.verdict.init_summary import load_sweep, summarise_sweep
    frame = load_sweep()
    s = summarise_sweep(frame)
    grad = sweep_chart(s, "grad_ratio").to_dict()
    lag = sweep_chart(s, "lag1").to_dict()
    assert grad["layer"][1]["encoding"]["y"]["scale"]["type"] == "log"
    assert lag["layer"][1]["encoding"]["y"]["scale"].get("type") != "log"
    assert log_axis([0.5, 20]) and not log_axis([0.5, 2]) and not log_axis([-1, 100])
    b = branch_chart(summarise_sweep(frame, blocks=True), 56).to_dict()
    ref = [d for d in b["datasets"].values() if d and "De & Smith" in str(d[0].get("net"))][0]
    assert [round(r["centre"], 6) for r in ref[:3]] == [1.0, 0.5, round(1 / 3, 6)]


def test_mechanisms_page_draws_the_sweep(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("explorer/ui/pages/mechanisms.py").run()
    at.radio(key="mx_on").set_value("fresh initialisations (depths 8-110, 20 each)").run()
    assert not at.exception and not at.error
    assert len(at.dataframe) >= 2  # the contrasts at 20 vs 56 and the summary table
    at.radio(key="sw_measure").set_value("branch_var_ratio_mean").run()
    assert not at.exception and not at.error and at.select_slider(key="sw_depth").value == 56


def test_a_result_on_other_images_is_its_own_condition():
    from explorer.studies.catalog.images import PROBE_TAG, separate_image_sets
    df = pd.DataFrame({"run_id": ["a", "b"], "condition_label": ["resnet20 (FULL)"] * 2,
                       "images_from": ["training images (1000, stratified)", "probe set (500 test images; no training data here)"]})
    out, colors = separate_image_sets(df, {"resnet20 (FULL)": "#1f77b4"})
    assert list(out["condition_label"]) == ["resnet20 (FULL)", "resnet20 (FULL)" + PROBE_TAG]
    assert colors["resnet20 (FULL)" + PROBE_TAG] != colors["resnet20 (FULL)"]
    same, _ = separate_image_sets(df.iloc[:1], {})
    assert list(same["condition_label"]) == ["resnet20 (FULL)"]  # one image set: nothing to tell apart
