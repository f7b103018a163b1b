"""The zoo's analysis ships as the app's cache: present for every zoo run, equal to a recomputation,
and enough for the resnet56 comparison to open without computing a metric."""
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import table as analysis
from explorer.analysis import cache
from explorer.analysis import inputs, views
from explorer.analysis.table import analyze_run, metric_key
from explorer.analysis.inputs import inputs_for
from explorer.separability import METRICS
from explorer.runs import list_runs
from explorer.settings import SHIPPED_CACHE

ROOT = Path(__file__).resolve().parents[1]


def _zoo():
    return [r for r in list_runs(ROOT / "checkpoints").runs if r.weights_file() is not None]


def test_every_zoo_run_has_its_shipped_entries():
    """Every metric (one entry each, so any selection is served), the 2-D views and the gap features."""
    for run in _zoo():
        inputs = inputs_for(run)
        for reduction in ("gap", "flat"):
            for m in METRICS:
                assert (SHIPPED_CACHE / f"{cache.digest(metric_key(inputs.key(reduction), m))}.json").is_file(), \
                    (run.id, reduction, m)
            views = {**inputs.key(reduction), "kind": "projections"}
            assert (SHIPPED_CACHE / f"{cache.digest(views)}.safetensors").is_file(), (run.id, reduction)
        gap_features = {**inputs.key("gap"), "kind": "features"}  # flat features (tens of MB a run) are not kept
        assert (SHIPPED_CACHE / f"{cache.digest(gap_features)}.safetensors").is_file(), run.id


@pytest.mark.parametrize("reduction", ["gap", "flat"])
def test_shipped_entry_equals_a_recomputation(tmp_path, monkeypatch, reduction):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "empty"))
    run = next(r for r in _zoo() if r.spec.name == "resnet20")
    shipped = analyze_run(run, reduction=reduction, cached_only=True)
    assert shipped is not None, "no shipped entry for a zoo run"
    fresh = analyze_run(run, reduction=reduction, use_cache=False)
    np.testing.assert_allclose(fresh["value"].to_numpy(), shipped["value"].to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["gap", "flat"])
def test_shipped_2d_views_equal_a_recomputation(tmp_path, monkeypatch, reduction):
    from explorer.analysis.projection import project
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "empty"))
    run = next(r for r in _zoo() if r.spec.name == "resnet20-nores")
    inputs = inputs_for(run)
    probe = inputs.probe
    feats = analysis.run_features(inputs, reduction, use_cache=False)
    for method in ("PCA", "LDA"):
        shipped = views.stage_points(run, "stage2", reduction, method)
        fresh = project(feats["stage2"], probe.labels.numpy(), method)
        # up to the sign of each axis (an eigenvector's sign is arbitrary)
        for j, col in enumerate(("c1", "c2")):
            a, b = shipped[col].to_numpy(), fresh[:, j]
            assert min(np.abs(a - b).max(), np.abs(a + b).max()) <= 1e-3 * np.abs(b).max(), (method, col)


@pytest.mark.parametrize("reduction", ["gap", "flat"])
def test_resnet56_comparison_opens_without_computing(tmp_path, monkeypatch, reduction):
    from streamlit.testing.v1 import AppTest

    def refuse(*a, **k):
        raise AssertionError("a metric or a feature was computed")

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(analysis, "extract_reductions", refuse)
    monkeypatch.setattr(analysis, "score_features", refuse)
    monkeypatch.setattr(analysis.scoring, "share", refuse)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.sidebar.radio(key="source").set_value("shipped zoo").run()
    at.sidebar.select_slider(key="pick_depth_cifar").set_value(56).run()
    at.sidebar.toggle(key="compare4").set_value(True).run()
    assert len(at.session_state["selection"].ids) == 6
    at.switch_page("explorer/ui/pages/separability.py").run()
    at.radio(key="sp_red").set_value(reduction).run()
    at.radio(key="sp_method").set_value("LDA").run()
    errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    assert not errors, errors
    table = at.dataframe[0].value
    assert table["run_id"].nunique() == 6 and table["value"].notna().all()


def test_ship_cache_writes_the_named_runs_only(digits_runs, tmp_path, monkeypatch, capsys):
    from explorer.cli import main
    monkeypatch.setattr(cache, "SHIPPED_CACHE", tmp_path / "shipped")
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "user"))
    import json
    run = list_runs(digits_runs).runs[0]
    assert main(["ship-cache", run.id, "--root", str(digits_runs), "--reductions", "gap"]) == 0
    tables = list((tmp_path / "shipped").glob("*.json"))
    keys = [json.loads(t.read_text())["key"] for t in tables]  # one entry a metric, all of this run
    assert sorted(k["metric"] for k in keys) == sorted(METRICS)
    assert {k["weights"] for k in keys} == {inputs.weights_hash(run)}
    assert main(["ship-cache", "no-such-run", "--root", str(digits_runs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no-such-run" in err and "Traceback" not in err
