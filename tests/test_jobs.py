"""The job queue: a job file in, a worker, a result file out; submission and start atomic across sessions."""
import os
import threading
import time
from pathlib import Path

import pytest

from explorer.jobs import queue as jobs
from explorer.models import parse_model_name
from explorer.runs import list_runs
from explorer.train import TrainConfig

SPEC = parse_model_name("resnet8")
CFG = TrainConfig(epochs=1, batch_size=64, augment=False, train_eval_size=100)


def _wait(root: Path, job_id: str, timeout: float = 300) -> jobs.Job:
    deadline = time.time() + timeout
    while time.time() < deadline:
        (job,) = [j for j in jobs.tick(root) if j.id == job_id]
        if job.status not in jobs.ACTIVE:
            return job
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not end")


def test_a_job_trains_and_reports_through_its_result_file(tmp_path):
    root = tmp_path / "runs"
    job = jobs.submit(root, SPEC, CFG, [0, 1], "digits")
    done = _wait(root, job.id)
    assert done.status == "finished", done.message
    assert [r.seed for r in done.results] == [0, 1] and all(r.status == "finished" for r in done.results)
    assert {r.run_id for r in done.results} == {r.id for r in list_runs(root).runs}


def test_a_job_that_fails_says_why_and_leaves_no_run(tmp_path):
    root = tmp_path / "runs"
    job = jobs.submit(root, SPEC, CFG, [0], str(tmp_path / "no-such-data.zip"))
    done = _wait(root, job.id)
    assert done.status == "failed" and "no-such-data.zip" in done.message, done.message
    assert list_runs(root).runs == [] and list_runs(root).broken == []


def test_submission_is_atomic_across_sessions(tmp_path):
    root = tmp_path / "runs"
    barrier, outcomes = threading.Barrier(4), []

    def one():
        barrier.wait()
        try:
            jobs.submit(root, SPEC, CFG, [0], "digits", max_active=1)
            outcomes.append("queued")
        except jobs.JobError:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["queued", "refused", "refused", "refused"]
    assert len(jobs.list_jobs(root)) == 1


def test_a_job_is_started_by_exactly_one_process(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    job = jobs.submit(root, SPEC, CFG, [0], "digits")
    started = []

    def fake_start(j):  # what _start does, without a real worker: this process stands in for it
        started.append(j.id)
        time.sleep(0.2)  # widen the window a second scheduler would slip through
        j.status, j.pid = "running", os.getpid()
        jobs._save(j)

    monkeypatch.setattr(jobs, "_start", fake_start)
    barrier = threading.Barrier(4)
    threads = [threading.Thread(target=lambda: (barrier.wait(), jobs.tick(root, max_running=1))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert started == [job.id]


def test_cancel_stops_a_queued_job(tmp_path):
    root = tmp_path / "runs"
    job = jobs.submit(root, SPEC, CFG, [0], "digits")
    jobs.cancel(root, job.id)
    (j,) = jobs.list_jobs(root)
    assert j.status == "cancelled"
