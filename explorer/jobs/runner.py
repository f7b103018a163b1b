"""Start or resume a run: data set + spec + config -> a run folder that is trained to the end.

The glue between `train.train` (which knows nothing of files) and the run store. Used by the
CLI, and therefore by the app's background jobs and by torchrun. Nothing is created in the
run store before the spec, the data and the config have been checked and the model built.
"""
from __future__ import annotations

import dataclasses
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..atomic import atomic_write_json
from ..data import Dataset, load_dataset, probe_set
from ..models import ModelSpec, init_model
from ..runs.record import check_bounds
from ..runs import (DataInfo, Run, RunError, acquire_lock, create_run, load_resume_state, open_run, release_lock,
                   save_epoch, update_record)
from ..settings import owner as env_owner
from ..train import TrainConfig, resolve_device, split_indices, train


@dataclass(frozen=True)
class TrainResult:
    status: str  # finished | diverged | cancelled
    epoch: int  # epochs done
    message: str = ""


def data_info(data: Dataset, source: str) -> DataInfo:
    mean, std = data.mean_std()
    return DataInfo(name=data.name, source=source, description=data.description, fingerprint=data.fingerprint,
                    classes=tuple(data.classes), n_train=int(len(data.train_y)), n_test=int(len(data.test_y)),
                    mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std))  # full precision: what training normalises with


def dist_rank() -> int:
    d = torch.distributed
    return d.get_rank() if d.is_available() and d.is_initialized() else 0


def check_fits(data: Dataset, spec: ModelSpec, cfg: TrainConfig) -> None:
    """Checks that need the data set: subset size and number of classes."""
    if cfg.subset is not None or cfg.val is not None:
        split_indices(data.train_y, cfg)
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


def execute(run: Run | None, model, spec: ModelSpec, cfg: TrainConfig, data: Dataset, *, resume_from: Run | None = None,
            on_progress: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train ``run`` (None on ranks other than 0) to the end.

    A failure inside training marks the run ``failed`` with the reason, then propagates.
    """
    # every torchrun rank reads the same checkpoint; only rank 0 (run is not None) writes
    start = load_resume_state(resume_from) if resume_from is not None else None
    if run is not None:
        acquire_lock(run.path)
        for tmp in run.path.glob(".*.tmp"):  # left by a writer killed mid-write; never read
            tmp.unlink(missing_ok=True)
        dev = resolve_device(cfg.device)
        device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        prov = run.record.provenance
        devices = tuple(dict.fromkeys([*prov.devices, device]))  # every device it ran on, in order
        update_record(run, status="running", reason="", provenance=dataclasses.replace(prov, devices=devices))
    try:
        state = train(model, data, cfg, start=start,
                      on_epoch=(lambda s: save_epoch(run, s)) if run is not None else None,
                      on_progress=_progress_writer(run, on_progress), should_stop=should_stop)
        if run is not None and run.record.status != state.status:  # stopped inside an epoch
            div = state.diverged_at
            update_record(run, status=state.status, reason=state.message,
                          diverged=None if div is None else (div["epoch"], div["step"]))
        return TrainResult(state.status, state.epoch, state.message)
    except BaseException as e:  # recorded on the run, reported as one line by the caller
        if run is not None:
            e.run_id = run.id  # the job worker reports which run failed
            reason = "stopped by an interrupt" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"[:500]
            status = "cancelled" if isinstance(e, KeyboardInterrupt) else "failed"
            update_record(run, status=status, reason=reason, provenance=dataclasses.replace(
                run.record.provenance, traceback=None if status == "cancelled" else traceback.format_exc()[-2000:]))
        raise
    finally:
        if run is not None:
            release_lock(run.path)


def start_run(spec: ModelSpec, cfg: TrainConfig, source: str, root: Path, *, data: Dataset | None = None,
              run_id: str | None = None, owner: str | None = None, **kw) -> tuple[Run | None, TrainResult]:
    """Check everything, build the model, then create the run folder and train it."""
    cfg.validate()
    check_bounds(spec)
    resolve_device(cfg.device)  # cuda without a GPU is refused before anything is loaded or created
    data = data or load_dataset(source)
    check_fits(data, spec, cfg)
    model = init_model(spec, cfg.seed)  # a spec that cannot be built fails here, before any folder exists
    probe_hash = probe_set(data).hash
    run = None
    if dist_rank() == 0:
        run = create_run(root, spec, cfg, data_info(data, source), probe_hash, run_id=run_id,
                         owner=env_owner() if owner is None else owner)
    return run, execute(run, model, spec, cfg, data, **kw)


def resume_run(root: Path, run_id: str, *, data: Dataset | None = None, **kw) -> tuple[Run, TrainResult]:
    run = open_run(root, run_id)
    rec = run.record
    if rec.train is None:
        raise RunError(f"Run {run_id} holds imported weights; there is no training to resume.")
    if rec.status == "finished":
        raise RunError(f"Run {run_id} is already finished.")
    source = rec.data.source or rec.data.name
    data = data or load_dataset(source)
    if data.fingerprint != rec.data.fingerprint:
        raise RunError(f"The data set at {source} is not the one run {run_id} was trained on (fingerprint differs).")
    model = init_model(rec.model, rec.train.seed)
    return run, execute(run if dist_rank() == 0 else None, model, rec.model, rec.train, data, resume_from=run, **kw)
