"""The run store: one folder a run under a root (the zoo's checkpoints/, or the user's runs/).

    <root>/<run id>/
        config.json              the run record (explorer.runs.record)
        checkpoint.safetensors   resume state after the last finished epoch (model + optimizer)
        history.json             one row an epoch
        gradlog.safetensors      one row a step: mean |grad| and L2 norm of every stage
        weights.safetensors      final weights (finished and imported runs)
        progress.json            the latest progress event
        lock                     "pid host" of the process that trains it, while it does

Per epoch the history and the gradient log are written before the checkpoint, so a
checkpoint at epoch e always finds at least e rows. Run ids are checked before anything is
read or deleted: a strict pattern, and the folder must be a direct child of the root.
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import __version__
from ..atomic import atomic_write_json
from ..models import ModelSpec, ModelSpecError, ResNet, build_model
from ..settings import PROBE_DIR, SHIPPED_CACHE, SHIPPED_STUDIES, shorten
from ..train import GradLog, TrainConfig, TrainState
from .files import (RunError, load_gradlog, load_weights_into, read_history, read_json, read_st, save_gradlog,
                    weights_cap, write_checkpoint, write_weights)
from .locks import lock_alive
from .record import DataInfo, Final, ImportSource, Provenance, RecordError, RunRecord, parse_record

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,159}")


def versions() -> tuple[tuple[str, str], ...]:
    import numpy
    return (("explorer", __version__), ("numpy", numpy.__version__), ("python", platform.python_version()),
            ("torch", torch.__version__))


def run_path(root: Path, run_id: str) -> Path:
    """The folder of ``run_id`` under ``root``, after checking the id cannot point anywhere else."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise RunError(f"Not a run id: {shorten(repr(run_id), 80)}; run ids are letters, digits, '-', '_' and '.'.")
    root = Path(root)
    path = root / run_id
    if path.resolve().parent != root.resolve():
        raise RunError(f"Run id {shorten(run_id, 80)} does not name a folder directly under {shorten(root)}.")
    return path


@dataclass
class Run:
    """A run folder and its record (a snapshot: reopen the run to see later epochs)."""

    path: Path
    record: RunRecord
    _read: dict = field(default_factory=dict, repr=False, compare=False)  # history / gradlog, read once

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def spec(self) -> ModelSpec:
        return self.record.model

    @property
    def train_config(self) -> TrainConfig | None:
        return self.record.train

    @property
    def seed(self) -> int | None:
        return self.record.seed

    @property
    def status(self) -> str:
        """The record's status, with "running" turned into "interrupted" when its trainer is gone."""
        s = self.record.status
        if s == "running" and not lock_alive(self.path / "lock"):
            return "interrupted"
        return s

    def history(self) -> list[dict]:
        if "history" not in self._read:
            p = self.path / "history.json"
            empty = self.record.epochs_done == 0 and not p.exists()
            self._read["history"] = [] if empty or self.record.imported else read_history(p, self.record.epochs_done)
        return self._read["history"]

    def gradlog(self) -> GradLog | None:
        if "gradlog" not in self._read:
            p = self.path / "gradlog.safetensors"
            self._read["gradlog"] = load_gradlog(p).upto(self.record.epochs_done) if p.exists() else None
        return self._read["gradlog"]

    def weights_file(self) -> Path | None:
        """weights.safetensors, else the last checkpoint, else None."""
        for name in ("weights.safetensors", "checkpoint.safetensors"):
            if os.path.lexists(self.path / name):  # a link or a special file is refused when read, with the reason
                return self.path / name
        return None

    def load_model(self) -> ResNet:
        """The run's final weights (or its last checkpoint) in a freshly built model, eval mode."""
        try:
            model = build_model(self.spec)
        except ModelSpecError as e:
            raise RunError(f"Run {self.id}: its model spec cannot be built ({e}).") from None
        path = self.weights_file()
        if path is None:
            omitted = self.record.provenance.weights_omitted
            raise RunError(f"Run {self.id}: {omitted}" if omitted else f"Run {self.id} has no weights yet (no finished epoch).")
        expected = model.state_dict()
        tensors, _ = read_st(path, weights_cap(expected, optimizer=path.name.startswith("checkpoint")))
        if path.name.startswith("checkpoint"):
            tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        wrong = [k for k in expected if k in tensors and tensors[k].dtype != expected[k].dtype]
        if wrong:
            raise RunError(f"Run {self.id}'s weights hold {tensors[wrong[0]].dtype} tensors where {expected[wrong[0]].dtype} "
                           f"is expected ({wrong[0]}).")
        load_weights_into(model, tensors, f"Run {self.id}'s weights")
        return model.eval()


@dataclass(frozen=True)
class BrokenRun:
    path: Path
    reason: str

    @property
    def id(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Listing:
    runs: list[Run]
    broken: list[BrokenRun]


def open_run(root: Path, run_id: str, validate: bool = False) -> Run:
    path = run_path(root, run_id)
    if not path.is_dir() or path.is_symlink():
        raise RunError(f"No run {shorten(run_id, 80)!r} in {shorten(root)}; `python -m explorer runs --root {shorten(root)}` lists them.")
    try:
        record = parse_record(read_json(path / "config.json"), run_id)
    except RecordError as e:
        raise RunError(str(e)) from None
    run = Run(path, record)
    if validate:
        validate_run(run)
    return run


def list_runs(root: Path, validate: bool = True) -> Listing:
    """Every run under ``root``, and the folders that are not valid runs with the reason. Never raises."""
    root = Path(root)
    runs, broken = [], []
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except OSError:
        return Listing([], [])
    for path in entries:
        shown = escaped_name(path.name)
        if shown != path.name:  # listed by an escaped name: an unencodable one would break whoever prints or hashes it
            broken.append(BrokenRun(root / shown, f"The folder name is not valid UTF-8 ({shorten(shown, 80)}); "
                                                  "rename it to letters, digits, '-', '_' and '.'."))
            continue
        try:
            if path.is_symlink() or not path.is_dir() or path.resolve() in (PROBE_DIR, SHIPPED_CACHE, SHIPPED_STUDIES):
                continue  # links are never followed; the zoo's probe set and analyses sit beside its runs
            if not (path / "config.json").exists() and not any(path.iterdir()):
                continue  # an empty folder being created
            runs.append(open_run(root, path.name, validate=validate))
        except Exception as e:  # whatever a folder holds, the listing goes on: that run is listed as broken
            broken.append(BrokenRun(path, str(e) if isinstance(e, RunError) else f"{type(e).__name__}: {shorten(e)}"))
    return Listing(runs, broken)


def escaped_name(name: str) -> str:
    """``name`` as valid UTF-8 text: bytes that are not UTF-8 (surrogate escapes) written as \\xNN."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def validate_run(run: Run) -> None:
    """Raise RunError if the run's files are inconsistent with its record."""
    rec = run.record
    if rec.status in ("finished", "imported") and not rec.provenance.weights_omitted:
        if not os.path.lexists(run.path / "weights.safetensors"):
            raise RunError(f"Run {run.id} is {rec.status} but weights.safetensors is missing.")
        run.load_model()
    if rec.epochs_done > 0:
        if (run.path / "checkpoint.safetensors").exists():
            load_resume_state(run)  # raises on a torn or inconsistent checkpoint
        run.history()
        log = run.gradlog()
        if log is not None and (len(log.epoch) == 0 or int(log.epoch.max()) < rec.epochs_done):
            raise RunError(f"gradlog.safetensors of {run.id} stops before epoch {rec.epochs_done} (truncated).")


def new_run_id(spec: ModelSpec, seed: int | None) -> str:
    tag = "import" if seed is None else f"s{seed}"
    return f"{spec.name}-{tag}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def create_run(root: Path, spec: ModelSpec, cfg: TrainConfig | None, data: DataInfo, probe_hash: str, *,
               run_id: str | None = None, status: str = "running", owner: str = "",
               import_source: ImportSource | None = None) -> Run:
    """Make a new run folder (os.mkdir is atomic: two processes never share one) and its record."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        rid = run_id or new_run_id(spec, None if cfg is None else cfg.seed)
        path = run_path(root, rid)
        try:
            path.mkdir()
            break
        except FileExistsError:
            if run_id:
                raise RunError(f"A run named {run_id} already exists in {shorten(root)}.") from None
    else:
        raise RunError(f"Could not create a new run folder in {shorten(root)}.")
    record = RunRecord(id=path.name, model=spec, data=data, train=cfg, status=status, probe_hash=probe_hash,
                       provenance=Provenance(created=time.strftime("%Y-%m-%dT%H:%M:%S"), versions=versions(), owner=owner,
                                             import_source=import_source))
    run = Run(path, record)
    try:
        write_record(run)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return run


def write_record(run: Run) -> None:
    atomic_write_json(run.path / "config.json", run.record.to_json())


def update_record(run: Run, **changes) -> None:
    run.record = run.record.with_changes(**changes)
    write_record(run)


def save_epoch(run: Run, state: TrainState) -> None:
    """Everything about the finished epoch, history and gradient log first, checkpoint last."""
    save_gradlog(run.path / "gradlog.safetensors", state.gradlog)
    # JSON has no NaN: a diverged epoch's non-finite numbers are written as null
    atomic_write_json(run.path / "history.json", json.loads(json.dumps({"epochs": state.history}),
                                                            parse_constant=lambda _: None))
    write_checkpoint(run.path / "checkpoint.safetensors", state.model, state.optimizer, state.epoch, state.step)
    last = state.history[-1]
    final = Final(**{k: _finite(last.get(k)) for k in ("train_acc", "test_acc", "train_loss", "test_loss",
                                                        "train_eval_acc", "train_eval_loss")})
    changes = {"epochs_done": state.epoch, "final": final}
    if state.status in ("finished", "diverged"):
        if state.status == "finished":
            write_weights(run.path / "weights.safetensors", state.model, run.spec)
        changes.update(status=state.status, reason=state.message,
                       diverged=None if state.diverged_at is None else (state.diverged_at["epoch"], state.diverged_at["step"]))
    update_record(run, **changes)
    run._read.clear()
    if state.status == "finished":  # the final weights replace the resume state
        (run.path / "checkpoint.safetensors").unlink(missing_ok=True)


def _finite(v):
    """JSON has no NaN: a non-finite float becomes None (the record's reason says why)."""
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def load_resume_state(run: Run) -> TrainState:
    """The state after the run's last finished epoch, with history and log cut to match."""
    ckpt = run.path / "checkpoint.safetensors"
    if not ckpt.exists():
        return TrainState(gradlog=GradLog.empty(run.spec.stage_names + ["head"]))
    tensors, meta = read_st(ckpt, weights_cap(build_model(run.spec).state_dict(), optimizer=True))
    try:
        epoch, step = int(meta["epoch"]), int(meta["step"])
    except (KeyError, ValueError):
        raise RunError(f"checkpoint.safetensors in {run.id} has no epoch/step metadata.") from None
    history = read_json(run.path / "history.json").get("epochs", [])
    if not isinstance(history, list) or len(history) < epoch:
        raise RunError(f"Run {run.id}: history.json has fewer epochs than the checkpoint ({epoch}).")
    gradlog = load_gradlog(run.path / "gradlog.safetensors").upto(epoch)
    return TrainState(
        epoch=epoch, step=step, history=history[:epoch], gradlog=gradlog,
        model={k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
        optimizer={k[6:]: v for k, v in tensors.items() if k.startswith("optim.")},
    )


def delete_run(root: Path, run_id: str) -> None:
    """Remove a run folder; the id is checked first, and a run being trained is refused."""
    path = run_path(root, run_id)
    if not path.is_dir() or path.is_symlink():
        raise RunError(f"No run {shorten(run_id, 80)!r} in {shorten(root)}.")
    if lock_alive(path / "lock"):
        raise RunError(f"Run {run_id} is training right now; cancel it first.")
    trash = path.with_name(f".deleting-{run_id}-{secrets.token_hex(2)}")
    os.replace(path, trash)  # atomic: the run disappears from listings at once
    shutil.rmtree(trash, ignore_errors=True)
