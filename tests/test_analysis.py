import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.table import COLUMNS, DEFAULT_METRICS, AnalysisError, analyze, analyze_run
from explorer.data import load_digits, probe_set
from explorer.analysis.features import extract
from explorer.models import build_model
from explorer.runs import list_runs

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_extract_shapes_and_eval_mode():
    ds = load_digits()
    probe = probe_set(ds)
    m = build_model("resnet8").train()
    mean, std = ds.mean_std()
    gap = extract(m, probe.images[:50], mean, std, reduction="gap", batch_size=16)
    flat = extract(m, probe.images[:50], mean, std, reduction="flat", batch_size=16, stages=["stage3"])
    assert m.training  # restored
    assert [v.shape for v in gap.values()] == [(50, 16), (50, 16), (50, 32), (50, 64)]
    assert flat["stage3"].shape == (50, 64 * 8 * 8) and flat["stage3"].dtype == np.float32
    # gap is the spatial mean of the flat map
    np.testing.assert_allclose(flat["stage3"].reshape(50, 64, 64).mean(-1), gap["stage3"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        extract(m, probe.images[:2], mean, std, reduction="max")


def test_table_has_every_row_and_column_and_is_cached(digits_runs, monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    runs = list_runs(digits_runs).runs[:2]
    t0 = time.perf_counter()
    df = analyze(runs, reduction="gap")
    cold = time.perf_counter() - t0
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * 4 * len(DEFAULT_METRICS)  # runs x stages x metrics
    assert set(df["metric"]) == set(DEFAULT_METRICS) and set(df["stage"]) == {"stage0", "stage1", "stage2", "stage3"}
    assert (df["n"] == 500).all() and df["value"].notna().all()
    t0 = time.perf_counter()
    again = analyze(runs, reduction="gap")
    warm = time.perf_counter() - t0
    pd.testing.assert_frame_equal(df, again)
    print(f"analysis of 2 digits runs: cold {cold:.2f} s, cached {warm:.3f} s")


def test_cli_csv_round_trips(digits_runs, tmp_path):
    ids = [r.id for r in list_runs(digits_runs).runs]
    out = tmp_path / "table.csv"
    r = cli("analyze", *ids, "--root", digits_runs, "--metrics", "fisher_trace_ratio", "lda_accuracy", "--csv", out,
            "--no-progress")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS and len(df) == len(ids) * 4 * 2
    assert set(df["run_id"]) == set(ids)


@pytest.mark.parametrize("args,match", [
    (["nope"], "No run 'nope'"),
    (["{run}", "--metrics", "bogus"], "Unknown metric"),
    (["{run}", "--data", "{missing}"], "No such data"),
])
def test_cli_bad_input_leaves_no_csv(digits_runs, tmp_path, args, match, explorer_cli):
    run = list_runs(digits_runs).runs[0].id
    out = tmp_path / "t.csv"
    args = [a.format(run=run, missing=tmp_path / "none") for a in args]
    code, _, err = explorer_cli("analyze", *args, "--root", digits_runs, "--csv", out, "--no-progress")
    assert code == 2 and match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_wrong_classes_refused(digits_runs, tmp_path):
    from explorer.data import Dataset
    ds = load_digits()
    other = Dataset("x", "x", ds.train_x, ds.train_y, ds.test_x, ds.test_y, [f"c{i}" for i in range(10)], "f")
    with pytest.raises(AnalysisError, match="was trained on classes"):
        analyze_run(list_runs(digits_runs).runs[0], other)


def test_every_input_of_a_result_is_in_its_cache_key(digits_runs, tmp_path, monkeypatch):
    """Weights, normalisation, probe set, reduction, metric settings and code version each force a recomputation."""
    import dataclasses
    import shutil

    from explorer.analysis import table as analysis
    from explorer.data import load_digits
    from explorer.runs import open_run, update_record
    from explorer.separability import MetricSettings

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    src = list_runs(digits_runs).runs[0]
    shutil.copytree(src.path, tmp_path / "runs" / src.id)
    run = open_run(tmp_path / "runs", src.id)
    computed = []
    real = analysis.scoring.share  # what analyze_run scores with
    monkeypatch.setattr(analysis.scoring, "share", lambda *a, **k: (computed.append(1), real(*a, **k))[1])

    def analyse(metrics=("fisher_criterion",), **kw):
        before = len(computed)
        analysis.analyze_run(open_run(tmp_path / "runs", src.id), metrics=list(metrics), **kw)
        return len(computed) > before

    assert analyse() and not analyse()  # computed once, then cached
    update_record(run, data=dataclasses.replace(run.record.data, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    assert analyse() and not analyse(), "normalisation"
    w = run.path / "weights.safetensors"
    from safetensors.torch import load_file, save_file
    t = load_file(w)
    k = next(k for k in t if k.endswith("weight"))
    t[k] = t[k] * 1.01
    save_file(t, w)
    assert analyse() and not analyse(), "weights"
    assert analyse(reduction="flat") and not analyse(reduction="flat"), "reduction"
    assert analyse(data=load_digits(seed=1)), "probe set"
    monkeypatch.setattr(analysis, "SETTINGS", MetricSettings(k_mi=5))  # a setting fisher_criterion does not take
    assert not analyse(), "another metric's setting"
    assert analyse(metrics=["mi_knn_bits"]) and not analyse(metrics=["mi_knn_bits"]), "its own setting"
    monkeypatch.setattr(analysis, "SETTINGS", MetricSettings(p=16))
    assert analyse() and not analyse(), "metric settings"
    from explorer.analysis import inputs
    monkeypatch.setattr(inputs, "__version__", "0.0.0-test")
    assert analyse(), "code version"


@pytest.mark.parametrize("reduction", ["gap", "flat"])
def test_2d_views_come_from_the_tables_extraction(digits_runs, monkeypatch, tmp_path, reduction):
    """Analysing a run also stores the 2-D views of every stage, so the page never extracts its features again;
    they are the PCA / LDA of that run's features."""
    from explorer.analysis import table as analysis
    from explorer.analysis.table import run_features
    from explorer.analysis.inputs import inputs_for
    from explorer.analysis.views import stage_points
    from explorer.analysis.projection import project
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    analyze_run(run, reduction=reduction)
    inputs = inputs_for(run)
    feats = run_features(inputs, reduction, use_cache=False)
    probe = inputs.probe

    def refuse(*a, **k):
        raise AssertionError("the features were extracted again")
    monkeypatch.setattr(analysis, "extract_reductions", refuse)
    for method in ("PCA", "LDA"):
        pts = stage_points(run, "stage2", reduction, method)
        assert list(pts.columns) == ["c1", "c2", "class"] and len(pts) == 500
        fresh = project(feats["stage2"], probe.labels.numpy(), method)
        for j, col in enumerate(("c1", "c2")):  # up to each axis's sign
            a, b = pts[col].to_numpy(), fresh[:, j]
            assert min(np.abs(a - b).max(), np.abs(a + b).max()) <= 1e-3 * np.abs(b).max()


def test_2d_view_of_degenerate_features_says_why():
    from explorer.analysis.projection import all_projections, project
    y = np.repeat(np.arange(5), 10)
    with pytest.raises(ValueError, match="fewer than two directions"):
        project(np.ones((50, 7), np.float32), y, "PCA")
    with pytest.raises(ValueError, match="non-finite"):
        project(np.full((50, 7), np.nan, np.float32), y, "LDA")
    rng = np.random.default_rng(0)
    views = all_projections({"a": np.ones((50, 7), np.float32), "b": rng.normal(size=(50, 7)).astype(np.float32)}, y)
    assert set(views) == {"b|PCA", "b|LDA"}


def test_2d_views_follow_one_sign_rule(digits_runs, monkeypatch, tmp_path):
    """Every view the page draws has each axis's largest-magnitude coordinate positive, whether just
    computed or read from a cache written before the rule (here: a cached view with its axes flipped)."""
    from explorer.analysis import cache
    from explorer.analysis.inputs import inputs_for
    from explorer.analysis.views import stage_points
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    analyze_run(run, reduction="flat")
    key = {**inputs_for(run).key("flat"), "kind": "projections"}
    views = cache.read_arrays(key)
    fresh = stage_points(run, "stage2", "flat", "PCA")[["c1", "c2"]].to_numpy()
    cache.write_arrays(key, {k: -v for k, v in views.items()})  # as an older solver might have signed them
    for xy in (fresh, stage_points(run, "stage2", "flat", "PCA")[["c1", "c2"]].to_numpy()):
        assert (xy[np.abs(xy).argmax(0), [0, 1]] > 0).all()
    assert np.array_equal(fresh, stage_points(run, "stage2", "flat", "PCA")[["c1", "c2"]].to_numpy())
