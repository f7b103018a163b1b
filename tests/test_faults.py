"""Fault injection: SIGKILL training and the analysis writer at random moments, then check
that the run store and the cache are consistent and that nothing truncated is accepted.

EXPLORER_FAULT_TRIALS sets the number of kills (default 4 each, for CI; run with 20 for the full harness).
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from explorer.runs import Run, list_runs, open_run, validate_run

ROOT = Path(__file__).resolve().parents[1]
TRIALS = int(os.environ.get("EXPLORER_FAULT_TRIALS", "4"))
TRAIN = ["train", "--model", "resnet8", "--data", "digits", "--epochs", "3", "--batch-size", "64", "--lr", "0.05",
         "--no-augment", "--seeds", "0", "--no-progress"]
STATS = {"kills": 0, "resumed_equal": 0, "files_lost": 0}


def _env(cache):
    return {**os.environ, "OMP_NUM_THREADS": "1", "EXPLORER_CACHE": str(cache)}


def _run(args, cache):
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, env=_env(cache),
                          capture_output=True, text=True)


def _kill_after(args, delay, cache):
    p = subprocess.Popen([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, env=_env(cache),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    STATS["kills"] += 1


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    r = _run([*TRAIN, "--root", root], root / "cache")
    assert r.returncode == 0, r.stderr
    (run,) = list_runs(root).runs
    return run.load_model().state_dict()


def _assert_consistent(root: Path):
    """Every run is finished, resumable (interrupted, with 0..n finished epochs) or broken with a reason,
    and every file a valid run points at reads back."""
    listing = list_runs(root)
    for b in listing.broken:
        assert b.reason, b.path
    for item in listing.runs:
        validate_run(item)  # raises on any truncated or inconsistent file
        assert item.status in ("finished", "interrupted"), item.status


@pytest.mark.parametrize("trial", range(TRIALS))
def test_training_killed_at_a_random_moment(trial, tmp_path, reference):
    rng = random.Random(1000 + trial)
    root = tmp_path / "runs"
    _kill_after([*TRAIN, "--root", root], rng.uniform(1.0, 9.0), tmp_path / "cache")
    _assert_consistent(root)
    listing = list_runs(root)
    items = [*listing.runs, *listing.broken]
    if not items:  # killed before the run folder existed: nothing to resume, nothing half-written
        assert not root.exists() or not any(p for p in root.iterdir() if not p.name.startswith("."))
        return
    (run,) = items
    if isinstance(run, Run) and run.status == "interrupted":
        r = _run(["train", "--resume", run.id, "--root", root, "--no-progress"], tmp_path / "cache")
        assert r.returncode == 0, r.stderr
        run = open_run(root, run.id, validate=True)
    if isinstance(run, Run):
        assert run.status == "finished"
        w = run.load_model().state_dict()
        assert all(torch.equal(w[k], reference[k]) for k in w), "resumed weights differ from the uninterrupted run"
        STATS["resumed_equal"] += 1
    else:
        STATS["files_lost"] += 1  # a broken run would be a lost run
        pytest.fail(f"run broken after a kill: {run}")


def test_analysis_writer_killed_at_random_moments(digits_runs, tmp_path):
    ids = [r.id for r in list_runs(digits_runs).runs]
    cache = tmp_path / "cache"
    ref_csv = tmp_path / "ref.csv"
    r = _run(["analyze", *ids, "--root", digits_runs, "--csv", ref_csv, "--no-progress"], tmp_path / "refcache")
    assert r.returncode == 0, r.stderr
    rng = random.Random(7)
    out = tmp_path / "out.csv"
    for _ in range(max(2, TRIALS // 2)):
        _kill_after(["analyze", *ids, "--root", digits_runs, "--csv", out, "--no-progress"], rng.uniform(1.5, 8.0), cache)
        for f in (cache / "analysis").glob("*.json") if (cache / "analysis").exists() else []:
            json.loads(f.read_text())  # every cache entry that exists is complete
        if out.exists():
            pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(ref_csv))
    r = _run(["analyze", *ids, "--root", digits_runs, "--csv", out, "--no-progress"], cache)
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(ref_csv))


def test_fault_summary():
    print(f"\nfault injection: {STATS['kills']} kills, {STATS['resumed_equal']} runs resumed to identical weights, "
          f"{STATS['files_lost']} runs lost")
    assert STATS["files_lost"] == 0
