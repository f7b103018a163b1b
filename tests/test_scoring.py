"""Scoring stages in worker processes gives the rows of scoring in-process, and survives a dead worker."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from explorer.analysis import table as analysis
from explorer.analysis import scoring
from explorer.runs import list_runs
from explorer.separability import linalg
from explorer.settings import REPO_ROOT, scoring_workers


@pytest.fixture
def workers(monkeypatch):
    """One scoring worker for the test, stopped afterwards."""
    monkeypatch.setenv("EXPLORER_WORKERS", "1")
    scoring.stop()
    yield
    scoring.stop()


def _values(frames) -> np.ndarray:
    return np.concatenate([f["value"].to_numpy() for f in frames])


def test_workers_give_the_rows_of_in_process_scoring(digits_runs, workers, monkeypatch):
    runs = list_runs(digits_runs).runs[:2]
    scoring.start()
    pool, sent = scoring._POOL, []
    submit = pool.submit
    monkeypatch.setattr(pool, "submit", lambda fn, *a, **k: sent.append(fn) or submit(fn, *a, **k))
    pooled = [analysis.analyze_run(r, reduction="flat", use_cache=False) for r in runs]
    assert sent.count(scoring._score_in_worker) >= 2, "no stage was scored by a worker"
    monkeypatch.setenv("EXPLORER_WORKERS", "0")
    scoring.stop()
    here = [analysis.analyze_run(r, reduction="flat", use_cache=False) for r in runs]
    assert scoring._POOL is None
    for a, b in zip(pooled, here):
        assert a.drop(columns="value").equals(b.drop(columns="value"))
    assert np.array_equal(_values(pooled), _values(here), equal_nan=True)  # bit for bit
    assert np.isfinite(_values(here)).sum() > 0


def test_a_dead_worker_leaves_the_rows_unchanged(workers):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 20)
    stages = [(f"stage{i}", rng.standard_normal((100, 12)) + y[:, None] * 0.3 * i, 12) for i in range(3)]
    metrics = ["fisher_trace_ratio", "lda_accuracy"]
    expected = [scoring.score_stage(*s, y, metrics) for s in stages]
    scoring.start()
    pool = scoring._POOL
    assert pool.submit(os.getpid).result(timeout=120) != os.getpid()  # the worker runs
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    rows = scoring.score_stages(iter(stages), y, metrics)
    assert rows == sum(expected, [])
    assert scoring._POOL is not pool  # the broken pool is dropped; the next scoring starts a new one
    assert scoring.score_stages(iter(stages), y, metrics) == rows


def test_gram_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(1)
    A = (rng.standard_normal((300, 20000)) * 3 + 1).astype(np.float32)
    mean = A.mean(axis=0, dtype=np.float64)
    assert np.array_equal(linalg.gram(A, mean, threads=1), linalg.gram(A, mean, threads=2))


def test_workers_setting(monkeypatch):
    monkeypatch.delenv("EXPLORER_WORKERS", raising=False)
    assert scoring_workers() == min(2, max(0, (os.cpu_count() or 1) - 1))
    for raw, want in [("0", 0), ("1", 1), ("3", 3), ("-2", 0), ("many", min(2, max(0, (os.cpu_count() or 1) - 1)))]:
        monkeypatch.setenv("EXPLORER_WORKERS", raw)
        assert scoring_workers() == want, raw


def test_workers_leave_when_their_parent_is_killed(tmp_path):
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from explorer.analysis import scoring; scoring.start(); "
            "p = scoring._POOL; p.submit(int).result(timeout=120); print(*p._processes, flush=True); time.sleep(300)")
    env = {**os.environ, "EXPLORER_WORKERS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", code, str(REPO_ROOT)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in pids if _alive(p)]
    assert not alive, f"worker(s) {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_caller_and_a_worker_share_the_stages(workers, monkeypatch):
    """Stages that embed in no time (gap): two go to the worker at once (one scored, one waiting), the caller
    scores from the back meanwhile; the rows are those of scoring in-process, in stage order."""
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(5), 30)
    stages = [(f"stage{i}", rng.standard_normal((150, 24)) + y[:, None] * 0.2 * i, 24) for i in range(6)]
    metrics = ["fisher_trace_ratio", "lda_accuracy", "mi_probe_bits"]
    expected = sum((scoring.score_stage(*s, y, metrics) for s in stages), [])
    scoring.start()
    assert scoring._POOL.submit(os.getpid).result(timeout=120) != os.getpid()  # the worker is up
    here = []
    real = scoring.score_stage

    def counted(stage, *args):
        here.append(stage)
        return real(stage, *args)
    monkeypatch.setattr(scoring, "score_stage", counted)  # the caller's own scoring; a worker's goes through its module
    rows = scoring.score_stages(iter(stages), y, metrics)
    assert rows == expected
    assert "stage5" in here and "stage0" not in here and "stage1" not in here, here


def test_an_analysis_stopped_early_caches_only_finished_runs(digits_runs, workers, monkeypatch, tmp_path):
    """A page left mid-analysis closes the generator: the run already yielded is cached, the next one (its
    stages still at the worker) is dropped without a cache entry, and analysing again works."""
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    runs = list_runs(digits_runs).runs[:2]
    each = analysis.analyze_each(runs, reduction="flat")
    first, table = next(each)
    assert first is runs[0] and len(table) > 0
    each.close()
    assert analysis.analyze_run(runs[0], reduction="flat", cached_only=True) is not None
    assert analysis.analyze_run(runs[1], reduction="flat", cached_only=True) is None
    again = [t for _, t in analysis.analyze_each(runs, reduction="flat")]
    assert all(len(t) > 0 for t in again)
    assert np.array_equal(again[0]["value"].to_numpy(), table["value"].to_numpy(), equal_nan=True)


def test_a_stopped_pool_leaves_the_rows_unchanged(workers):
    """A pool shut down while stages wait on it (its futures fail with loky's shutdown error, not a broken
    pool): the stages are scored here, with the same rows."""
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(5), 20)
    stages = [(f"stage{i}", rng.standard_normal((100, 12)) + y[:, None] * 0.3 * i, 12) for i in range(4)]
    metrics = ["fisher_trace_ratio", "lda_accuracy"]
    expected = sum((scoring.score_stage(*s, y, metrics) for s in stages), [])
    scoring.start()
    assert scoring._POOL.submit(os.getpid).result(timeout=120) != os.getpid()  # the worker is up
    pending = scoring.share(iter(stages), y, metrics)
    scoring.stop()
    assert pending.rows() == expected
