"""Deployment mode for shared servers, and two users working at the same time."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.jobs import queue as jobs
from explorer.runs import list_runs, validate_run
from explorer import settings

ROOT = Path(__file__).resolve().parents[1]


def test_data_roots_limit_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_DEPLOY", "1")
    monkeypatch.setenv("EXPLORER_DATA_ROOTS", str(tmp_path / "allowed"))
    settings.check_data_path(str(tmp_path / "allowed" / "cifar.zip"))
    for bad in ["/etc/passwd", str(tmp_path / "allowed" / ".." / "secret.zip")]:
        with pytest.raises(ValueError, match="must come from under"):
            settings.check_data_path(bad)
    monkeypatch.setenv("EXPLORER_DEPLOY", "0")
    settings.check_data_path("/etc/passwd")  # a personal install limits nothing


@pytest.fixture
def deployed(digits_runs, tmp_path, monkeypatch):
    own = tmp_path / "own"
    monkeypatch.setenv("EXPLORER_DEPLOY", "1")
    monkeypatch.setenv("EXPLORER_ZOO", str(digits_runs))
    monkeypatch.setenv("EXPLORER_RUNS", str(own))
    monkeypatch.setenv("EXPLORER_DATA_ROOTS", str(tmp_path / "allowed"))
    monkeypatch.setenv("EXPLORER_MAX_QUEUE", "1")
    monkeypatch.chdir(ROOT)
    return own


def _train_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at.switch_page("explorer/ui/pages/train.py").run()


def test_deploy_refuses_paths_outside_roots(deployed):
    at = _train_page()
    at.radio(key="tr_data").set_value("image folder or .zip")
    at.text_input(key="tr_path").set_value("/etc")
    next(b for b in at.button if b.label == "Queue training").click().run()
    assert any("must come from under" in e.value for e in at.error)
    assert jobs.list_jobs(deployed) == []


def test_deploy_queue_limit(deployed):
    # a job that is running fills the queue of 1: its pid is a live process whose command line is this job's
    # worker (a stand-in that sleeps; a pid alone, such as this test process's, would be stale)
    import subprocess
    import sys
    from explorer.models import parse_model_name
    from explorer.train import TrainConfig
    job = jobs.submit(deployed, parse_model_name("resnet8"), TrainConfig(epochs=1), [0], "digits", owner="other")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "-m", "explorer", "worker",
                               str(jobs.job_file(deployed, job.id))])
    job.status, job.pid = "running", worker.pid
    jobs._save(job)
    try:
        _queue_is_full(deployed, job)
    finally:
        worker.kill()
        worker.wait()


def _queue_is_full(deployed, job):
    at = _train_page()
    at.radio(key="tr_data").set_value("digits (offline, tiny)")
    next(b for b in at.button if b.label == "Queue training").click().run()
    assert any("queue is full" in e.value for e in at.error), [e.value for e in at.error]
    assert len(jobs.list_jobs(deployed)) == 1
    assert not any(b.key == f"cancel_{job.id}" for b in at.button), "a session may not cancel another's job"


def test_deploy_hides_deleting_runs_of_others(deployed, digits_runs):
    import shutil
    run = list_runs(digits_runs).runs[0]
    shutil.copytree(run.path, deployed / run.id)  # a run this session did not create
    at = _train_page()
    assert not any(b.key == "del_go" for b in at.button)


def test_two_users_train_and_analyse_at_once(digits_runs, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EXPLORER_CACHE": str(tmp_path / "shared-cache")}
    root = tmp_path / "runs"
    ids = [r.id for r in list_runs(digits_runs).runs]
    train = ["train", "--model", "resnet8", "--data", "digits", "--epochs", "1", "--batch-size", "64", "--no-progress",
             "--root", str(root)]
    cmds = [train, train] + [["analyze", *ids, "--root", str(digits_runs), "--csv", str(tmp_path / f"t{i}.csv"),
                              "--no-progress"] for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "explorer", *c], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    runs = list_runs(root).runs
    assert len(runs) == 2 and len({r.id for r in runs}) == 2
    for r in runs:
        validate_run(r)
        assert r.status == "finished"
    a, b = pd.read_csv(tmp_path / "t0.csv"), pd.read_csv(tmp_path / "t1.csv")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == len(ids) * 4 * 5
    for f in (tmp_path / "shared-cache" / "analysis").glob("*.json"):
        json.loads(f.read_text())


def test_deploy_checks_the_cifar_root_only_for_cifar(monkeypatch, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    env = {**os.environ, "EXPLORER_DEPLOY": "1", "EXPLORER_DATA_ROOTS": str(allowed), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "explorer", "train", "--model", "resnet8", "--epochs", "1", "--no-progress",
            "--root", str(tmp_path / "runs")]
    r = subprocess.run(base + ["--data", "cifar10", "--data-root", str(tmp_path / "outside")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "must come from under" in r.stderr, r.stderr
    r = subprocess.run(base + ["--data", str(tmp_path / "allowed" / "missing.zip")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert "must come from under" not in r.stderr, r.stderr  # inside the roots: refused only for being absent
