"""Start or resume a run: data set + spec + config -> a run folder that is trained to the end.

The glue between `train.train` (which knows nothing of files) and the run store. Used by the
CLI, and therefore by the app's background jobs and by torchrun.
"""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from .atomic import atomic_write_json
from .data import Dataset, load_dataset, probe_set
from .models import ModelSpec, init_model
from .runs import (Run, RunError, acquire_lock, create_run, load_resume_state, open_run, release_lock, save_epoch,
                   update_config)
from .train import TrainConfig, stratified_subset, train


def data_info(data: Dataset, source: str) -> dict:
    mean, std = data.mean_std()
    return {"name": data.name, "source": source, "description": data.description, "fingerprint": data.fingerprint,
            "classes": data.classes, "n_train": int(len(data.train_y)), "n_test": int(len(data.test_y)),
            "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}


def dist_rank() -> int:
    d = torch.distributed
    return d.get_rank() if d.is_available() and d.is_initialized() else 0


def check_fits(data: Dataset, spec: ModelSpec, cfg: TrainConfig) -> None:
    """Checks that need the data set: subset size and number of classes."""
    if cfg.subset is not None:
        stratified_subset(data.train_y, cfg.subset)
    if spec.num_classes != data.num_classes:
        raise RunError(f"The model has {spec.num_classes} outputs but the data set has {data.num_classes} classes.")


def progress_file_writer(path: Path, every_s: float = 1.0) -> Callable[[dict], None]:
    """A progress callback that writes the latest event to ``path`` (atomic, at most every ``every_s``)."""
    last = [0.0]

    def write(event: dict) -> None:
        now = time.monotonic()
        if event.get("epoch_end") or now - last[0] > every_s:
            last[0] = now
            atomic_write_json(path, {**event, "time": time.time(), "pid": os.getpid()})

    return write


def _progress_writer(run: Run | None, extra: Callable[[dict], None] | None):
    to_run = progress_file_writer(run.path / "progress.json") if run is not None else None

    def on_progress(event: dict) -> None:
        if extra is not None:
            extra(event)
        if to_run is not None:
            to_run(event)

    return on_progress


def execute(run: Run | None, spec: ModelSpec, cfg: TrainConfig, data: Dataset, *, resume_from: Path | None = None,
            on_progress: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None) -> dict:
    """Train ``run`` (None on ranks other than 0) to the end; returns the final status dict.

    A failure inside training marks the run ``failed`` with the reason; nothing escapes.
    """
    # every torchrun rank reads the same checkpoint; only rank 0 (run is not None) writes
    start = load_resume_state(Run(Path(resume_from), {"model": spec.to_dict()})) if resume_from else None
    model = init_model(spec, cfg.seed)  # seeds torch's global generator, then builds
    if run is not None:
        acquire_lock(run.path)
        for tmp in run.path.glob(".*.tmp"):  # left by a writer killed mid-write; never read
            tmp.unlink(missing_ok=True)
        device = str(_device_name(cfg))
        devices = list(dict.fromkeys([*run.config.get("devices", []), *([run.config["device"]] if run.config.get("device") else []), device]))
        update_config(run, status="running", message="", device=device, devices=devices)  # devices: every one it ran on
    try:
        state = train(model, data, cfg, start=start,
                      on_epoch=(lambda s: save_epoch(run, s, spec)) if run is not None else None,
                      on_progress=_progress_writer(run, on_progress), should_stop=should_stop)
        if run is not None and run.config.get("status") != state.status:  # stopped inside an epoch
            update_config(run, status=state.status, message=state.message, diverged=state.diverged_at)
        return {"status": state.status, "epoch": state.epoch, "message": state.message}
    except Exception as e:  # recorded on the run, reported as one line by the caller
        if run is not None:
            update_config(run, status="failed", message=f"{type(e).__name__}: {e}"[:500],
                          traceback=traceback.format_exc()[-2000:])
        raise
    finally:
        if run is not None:
            release_lock(run.path)


def _device_name(cfg: TrainConfig) -> str:
    from .train import resolve_device
    dev = resolve_device(cfg.device)
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def start_run(spec: ModelSpec, cfg: TrainConfig, source: str, root: Path, *, data: Dataset | None = None,
              run_id: str | None = None, **kw) -> tuple[Run | None, dict]:
    cfg.validate()
    data = data or load_dataset(source)
    check_fits(data, spec, cfg)
    run = None
    if dist_rank() == 0:
        owner = os.environ.get("EXPLORER_OWNER", "")  # the app session that queued it (deploy mode)
        run = create_run(root, spec, cfg, data_info(data, source), probe_set(data).hash, run_id=run_id,
                         extra={"owner": owner} if owner else None)
    return run, execute(run, spec, cfg, data, **kw)


def resume_run(root: Path, run_id: str, *, data: Dataset | None = None, **kw) -> tuple[Run, dict]:
    run = open_run(root, run_id)
    if run.config.get("status") == "finished":
        raise RunError(f"Run {run_id} is already finished.")
    spec, cfg = run.spec, run.train_config
    source = run.config["data"].get("source", run.config["data"]["name"])
    data = data or load_dataset(source)
    if data.fingerprint != run.config["data"]["fingerprint"]:
        raise RunError(f"The data set at {source} is not the one run {run_id} was trained on (fingerprint differs).")
    return run, execute(run if dist_rank() == 0 else None, spec, cfg, data, resume_from=run.path, **kw)
