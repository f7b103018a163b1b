"""A cancelled run is resumed from the app's job queue (issue 30: the app said "resumable from epoch 1" and
offered no Resume): the job continues the same run from its last epoch, in its own process, and reports it."""
import time

import pytest

from explorer.data import load_digits
from explorer.jobs import queue as jobs
from explorer.jobs.runner import start_run
from explorer.models import parse_model_name
from explorer.runs import open_run
from explorer.train import TrainConfig


def test_a_cancelled_run_is_resumed_by_a_job(tmp_path):
    root = tmp_path / "runs"
    seen = {"epoch": 0}
    cfg = TrainConfig(epochs=2, batch_size=64, augment=False, subset=320, train_eval_size=100, log_every=1)
    run, result = start_run(parse_model_name("resnet8"), cfg, "digits", root, data=load_digits(),
                            on_progress=lambda e: seen.__setitem__("epoch", e.get("epoch", 0)),
                            should_stop=lambda: seen["epoch"] >= 2)  # cancelled early in epoch 2
    assert result.status == "cancelled" and open_run(root, run.id).record.epochs_done == 1
    jobs.resume(root, run.id)
    with pytest.raises(ValueError, match="already being resumed"):
        jobs.resume(root, run.id)  # a second click queues nothing
    (job,) = [j for j in jobs.list_jobs(root) if j.resume == run.id]
    deadline = time.time() + 300
    while time.time() < deadline:
        (job,) = [j for j in jobs.tick(root) if j.id == job.id]
        if job.status not in jobs.ACTIVE:
            break
        time.sleep(0.5)
    assert job.status == "finished", job.message
    assert [(r.run_id, r.status) for r in job.results] == [(run.id, "finished")]
    rec = open_run(root, run.id).record
    assert rec.status == "finished" and rec.epochs_done == 2 and rec.final.test_acc is not None
    with pytest.raises(ValueError, match="is finished"):
        jobs.resume(root, run.id)
