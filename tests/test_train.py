import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.data import load_digits
from explorer.models import build_model, parse_model_name
from explorer.runs import list_runs, open_run, validate_run
from explorer.jobs.runner import start_run
from explorer.train import ConfigError, TrainConfig, lr_at, stratified_subset, train

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(batch_size=32, lr=0.05, augment=False, train_eval_size=300)


def cli(*args, env=None, **kw):
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, env=e,
                          capture_output=True, text=True, **kw)


def weights_of(run):
    return run.load_model().state_dict()


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_short_run_learns(digits):
    torch.manual_seed(0)
    st = train(build_model("resnet8"), digits, TrainConfig(epochs=4, **FAST))
    losses = [r["train_loss"] for r in st.history]
    assert st.status == "finished" and len(st.history) == 4
    assert losses[-1] < 0.5 * losses[0]
    assert st.history[-1]["test_acc"] > 0.6  # chance is 0.1
    # one gradient-log row a step, every stage and the head, all finite and positive
    steps = 4 * (len(digits.train_y) // 32)
    assert st.gradlog.mean_abs.shape == (steps, 5) and st.gradlog.groups == ["stage0", "stage1", "stage2", "stage3", "head"]
    assert np.all(np.isfinite(st.gradlog.l2)) and np.all(st.gradlog.mean_abs > 0)
    assert st.gradlog.epoch.tolist() == sorted(st.gradlog.epoch.tolist())
    row = st.history[-1]
    assert len(row["test_per_class"]) == 10 and abs(np.mean(row["test_per_class"]) - row["test_acc"]) < 0.02
    for key in ("train_loss", "train_acc", "test_loss", "lr", "time_s", "images_per_s", "train_eval_acc"):
        assert key in row


def test_same_seed_same_result(digits):
    cfg = TrainConfig(epochs=1, **FAST)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(train(build_model("resnet8"), digits, cfg))
    assert runs[0].history[0]["train_loss"] == runs[1].history[0]["train_loss"]
    assert all(torch.equal(runs[0].model[k], runs[1].model[k]) for k in runs[0].model)
    np.testing.assert_array_equal(runs[0].gradlog.mean_abs, runs[1].gradlog.mean_abs)


def test_divergence_is_caught_and_recorded(digits, tmp_path):
    spec = parse_model_name("resnet8", residual=False, batchnorm=False)
    run, result = start_run(spec, TrainConfig(epochs=2, batch_size=32, lr=1e6, augment=False), "digits", tmp_path, data=digits)
    assert result.status == "diverged"
    assert run.record.status == "diverged" and run.record.diverged[0] == 1
    assert run.record.diverged[1] >= 1 and "non-finite" in run.record.reason
    assert open_run(tmp_path, run.id).status == "diverged"


def test_schedules_are_pure_functions():
    cfg = TrainConfig(epochs=4, lr=0.1, schedule="step")
    lrs = [lr_at(s, 400, 100, cfg) for s in range(400)]
    assert lrs[0] == 0.1 and lrs[199] == 0.1 and abs(lrs[200] - 0.01) < 1e-12 and abs(lrs[300] - 0.001) < 1e-12
    cos = TrainConfig(epochs=4, lr=0.1, warmup_epochs=1)
    assert abs(lr_at(0, 400, 100, cos) - 0.01) < 1e-12 and abs(lr_at(100, 400, 100, cos) - 0.1) < 1e-12
    assert lr_at(399, 400, 100, cos) < 1e-4
    one = TrainConfig(epochs=4, lr=0.1, schedule="onecycle")
    peak = max(lr_at(s, 400, 100, one) for s in range(400))
    assert abs(peak - 0.1) < 1e-3 and lr_at(0, 400, 100, one) < 0.01


def test_stratified_subset(digits):
    idx = stratified_subset(digits.train_y, 200)
    assert len(idx) == 200 and len(set(idx.tolist())) == 200
    counts = digits.train_y[idx].bincount()
    assert counts.max() - counts.min() <= 2
    with pytest.raises(ConfigError, match="only 1257"):
        stratified_subset(digits.train_y, 5000)


@pytest.mark.parametrize("kw,match", [
    (dict(epochs=0), "epochs"), (dict(batch_size=0), "batch size"), (dict(lr=-1.0), "lr must be positive"),
    (dict(lr=float("nan")), "finite"), (dict(schedule="linear"), "schedule"), (dict(subset=-3), "subset"),
])
def test_bad_config_one_clear_line(kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw).validate()


def test_cli_bad_input_exit_2(tmp_path, explorer_cli):
    for args, match in [
        (["--model", "resnet19"], "6n+2"), (["--model", "resnet8", "--epochs", "0"], "epochs"),
        (["--model", "resnet8", "--lr", "-0.1"], "lr"), (["--model", "resnet8", "--subset", "99999"], "only 1257"),
        (["--model", "vgg16"], "Unknown model"), (["--model", "resnet8", "--data", tmp_path / "none"], "No such data"),
        (["--model", "resnet8", "--batch-size", "x"], "invalid int"),
    ]:
        code, _, err = explorer_cli("train", *args, "--root", tmp_path, "--no-progress")
        assert code == 2, (args, err)
        assert match in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir()) or all(p.name == "none" for p in tmp_path.iterdir())
    r = cli("train", "--resume", "nope", "--root", tmp_path)  # the real command: its exit code and its one line
    assert r.returncode == 2 and "No run 'nope'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _wait_for(predicate, timeout=60):
    t = time.time()
    while time.time() - t < timeout:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_kill_and_resume_gives_the_same_weights(tmp_path):
    args = ["train", "--model", "resnet8", "--data", "digits", "--epochs", "3", "--batch-size", "32", "--lr", "0.05",
            "--no-augment", "--seeds", "0", "--no-progress"]
    ref = cli(*args, "--root", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    root = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "explorer", *args, "--root", str(root)], cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait until epoch 1 is fully on disk (config.json is written last), so epoch 2 is under way; kill without warning
    def epoch_1_saved():
        for c in root.glob("*/config.json"):
            try:
                return json.loads(c.read_text()).get("epochs_done", 0) >= 1
            except (ValueError, OSError):
                return False
        return False
    assert _wait_for(epoch_1_saved), "training never finished epoch 1"
    p.send_signal(signal.SIGKILL)
    p.wait()
    (run,) = list_runs(root).runs
    assert run.status == "interrupted" and 1 <= run.record.epochs_done < 3
    r = cli("train", "--resume", run.id, "--root", root, "--no-progress")
    assert r.returncode == 0, r.stderr
    resumed, (reference,) = open_run(root, run.id, validate=True), list_runs(tmp_path / "ref").runs
    assert resumed.status == "finished" and len(resumed.history()) == 3
    a, b = weights_of(resumed), weights_of(reference)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs from the uninterrupted one"
    assert resumed.history()[-1]["test_acc"] == reference.history()[-1]["test_acc"]
    ga, gb = resumed.gradlog(), reference.gradlog()
    np.testing.assert_array_equal(ga.mean_abs, gb.mean_abs)


def test_concurrent_runs_do_not_overwrite_each_other(tmp_path):
    args = ["train", "--model", "resnet8", "--data", "digits", "--epochs", "1", "--batch-size", "64",
            "--seeds", "0", "--no-progress", "--root", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "explorer", *args], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    runs = list_runs(tmp_path).runs
    assert len(runs) == 2 and runs[0].id != runs[1].id
    for run in runs:
        validate_run(run)
        assert run.status == "finished"


def test_broken_runs_are_listed_with_a_reason(tmp_path, digits):
    run, _ = start_run(parse_model_name("resnet8"), TrainConfig(epochs=1, **FAST), "digits", tmp_path, data=digits)
    good = run.id
    for name, damage in [("bad-json", lambda p: (p / "config.json").write_text("{not json")),
                         ("no-weights", lambda p: (p / "weights.safetensors").unlink()),
                         ("torn-weights", lambda p: (p / "weights.safetensors").write_bytes((p / "weights.safetensors").read_bytes()[:1000])),
                         ("bad-spec", lambda p: (p / "config.json").write_text(json.dumps({**json.loads((p / "config.json").read_text()), "model": {"family": "cifar", "depth": 19}})))]:
        import shutil
        shutil.copytree(tmp_path / good, tmp_path / name)
        damage(tmp_path / name)
    listing = list_runs(tmp_path)
    assert [r.id for r in listing.runs] == [good] and listing.runs[0].status == "finished"
    reasons = {b.id: b.reason for b in listing.broken}
    for name, word in [("bad-json", "not valid JSON"), ("no-weights", "missing"), ("torn-weights", "not a valid safetensors"),
                       ("bad-spec", "6n+2")]:
        assert word in reasons[name], reasons
    r = cli("runs", "--root", tmp_path, "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and len(out["runs"]) == 1 and len(out["broken"]) == 4


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_torchrun_two_processes_on_cpu(tmp_path):
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                        "-m", "explorer", "train", "--model", "resnet8", "--data", "digits", "--epochs", "2",
                        "--batch-size", "64", "--lr", "0.05", "--no-augment", "--device", "cpu", "--no-progress",
                        "--root", str(tmp_path)], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = list_runs(tmp_path).runs  # only rank 0 wrote
    validate_run(run)
    h = run.history()
    assert run.status == "finished" and len(h) == 2
    assert h[-1]["train_loss"] < h[0]["train_loss"] and h[-1]["test_acc"] > 0.3
    assert run.gradlog().mean_abs.shape[0] == 2 * (1257 // 64)


def test_delete_run(tmp_path, digits):
    from explorer.runs import RunError, delete_run
    run, _ = start_run(parse_model_name("resnet8"), TrainConfig(epochs=1, **FAST), "digits", tmp_path, data=digits)
    delete_run(tmp_path, run.id)
    assert list_runs(tmp_path).runs == [] and not any(tmp_path.iterdir())
    with pytest.raises(RunError, match="No run"):
        delete_run(tmp_path, run.id)
