"""Mechanism studies in the background: progress, the cached result, and the reason of a failure."""
import shutil
import time

from explorer.jobs import studies as study_jobs
from explorer.studies.catalog import study_table
from explorer.studies.catalog.landscape import LandscapeSettings
from explorer.studies.catalog.shatter import ShatterSettings
from explorer.runs import list_runs, open_run

SMALL = LandscapeSettings(images=100, points=3, grid=3)


def _wait(run, kind, settings, limit=180):
    deadline = time.time() + limit
    while time.time() < deadline:
        s = study_jobs.status(run, kind, settings)
        if s is not None and not s.running:
            return s
        time.sleep(0.5)
    raise AssertionError("the background study did not end")


def test_background_landscape_ends_in_the_cache(digits_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    assert study_jobs.status(run, "landscape", SMALL) is None
    study_jobs.start(run, "landscape", SMALL)
    s = _wait(run, "landscape", SMALL)
    assert s.error == "" and s.what == "done" and s.fraction == 1.0
    df = study_table(run, "landscape", SMALL, cached_only=True)
    assert df is not None and set(df["view"]) == {"line", "1d", "2d"} and len(df) == 3 + 3 + 9
    assert study_table(run, "landscape", cached_only=True) is None  # other settings, other entry


def test_a_failed_study_says_why(digits_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    src = list_runs(digits_runs).runs[0]
    shutil.copytree(src.path, tmp_path / "store" / src.id)
    run = open_run(tmp_path / "store", src.id)
    run.weights_file().write_bytes(b"not a safetensors file")
    study_jobs.start(run, "shatter", ShatterSettings(lines=2, points=5))
    s = _wait(run, "shatter", ShatterSettings(lines=2, points=5))
    assert s.error.startswith("error:") and "weights" in s.error.lower()
