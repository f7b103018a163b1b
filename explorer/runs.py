"""The run store: one folder a run under a root (default checkpoints/).

    <root>/<run id>/
        config.json              spec, training config, data set, probe hash, versions, status
        checkpoint.safetensors   resume state after the last finished epoch (model + optimizer)
        history.json             one row an epoch
        gradlog.safetensors      one row a step: mean |grad| and L2 norm of every stage
        weights.safetensors      final weights (finished runs)
        progress.json            the latest progress event (for the app's progress bar)
        lock                     "pid host" of the process that trains it, while it does

Every write is atomic (explorer.atomic). Per epoch the history and the gradient log are
written before the checkpoint, so a checkpoint at epoch e always finds at least e rows;
rows beyond the checkpoint's epoch (a kill between the writes) are dropped on resume.
Only safetensors and JSON are ever read: nothing here unpickles.
"""
from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load as np_load_st
from safetensors.numpy import save as np_save_st
from safetensors.torch import load as load_st
from safetensors.torch import save as save_st

from . import __version__
from .atomic import atomic_write_bytes, atomic_write_json
from .models import ModelSpec, ModelSpecError, ResNet, build_model
from .train import ConfigError, GradLog, TrainConfig, TrainState

DEFAULT_ROOT = Path("checkpoints")
STATUSES = ("running", "finished", "diverged", "cancelled", "failed", "interrupted", "imported", "broken")


class RunError(ValueError):
    """A run that cannot be found, read or loaded; the message says what is wrong."""


def versions() -> dict:
    import numpy
    return {"explorer": __version__, "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version()}


# --------------------------------------------------------------------------- files
def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing in {path.parent}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path.name} in {path.parent} is not valid JSON ({e.__class__.__name__}).") from None
    if not isinstance(obj, dict):
        raise RunError(f"{path.name} in {path.parent} must hold a JSON object.")
    return obj


def _st_metadata(data: bytes) -> dict:
    """The ``__metadata__`` of a safetensors file's bytes (the JSON header after an 8-byte length)."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]).get("__metadata__", {}) or {}


def _read_st(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a safetensors file; a truncated or foreign file is a RunError."""
    try:
        data = path.read_bytes()
        tensors, meta = load_st(data), _st_metadata(data)
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing in {path.parent}.") from None
    except (SafetensorError, ValueError, OSError, json.JSONDecodeError, RuntimeError) as e:
        raise RunError(f"{path.name} in {path.parent} is not a valid safetensors file ({str(e)[:80]}).") from None
    return tensors, meta


def write_weights(path: Path, state_dict: dict[str, torch.Tensor], spec: ModelSpec) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(path, save_st(tensors, metadata={"spec": json.dumps(spec.to_dict())}))


def load_weights_into(model: ResNet, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict, with a precise error naming missing, unexpected and mis-shaped tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if keys:
                shown = ", ".join(
                    f"{k} {tuple(tensors[k].shape)} vs {tuple(expected[k].shape)}" if label == "wrong shape" else k
                    for k in keys[:3])
                parts.append(f"{len(keys)} {label} ({shown}{', ...' if len(keys) > 3 else ''})")
        raise RunError(f"{source} does not match {model.spec.name}: " + "; ".join(parts) + ".")
    model.load_state_dict({k: tensors[k] for k in expected})


def save_gradlog(path: Path, log: GradLog) -> None:
    atomic_write_bytes(path, np_save_st({k: np.ascontiguousarray(v) for k, v in log.arrays().items()},
                                        metadata={"groups": json.dumps(log.groups)}))


def load_gradlog(path: Path) -> GradLog:
    try:
        data = path.read_bytes()
        arrays = np_load_st(data)
        groups = json.loads(_st_metadata(data)["groups"])
        return GradLog(groups, arrays["mean_abs"], arrays["l2"], arrays["loss"], arrays["lr"], arrays["epoch"])
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing in {path.parent}.") from None
    except Exception as e:  # any malformed content is reported, never trusted
        raise RunError(f"{path.name} in {path.parent} is not a valid gradient log ({e.__class__.__name__}).") from None


# --------------------------------------------------------------------------- the run
@dataclass
class Run:
    """A run folder and its parsed config.json (a snapshot: reopen the run to see later epochs)."""

    path: Path
    config: dict
    # history and gradient log as read once from disk; they belong to this config snapshot
    _read: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.config["model"])

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config["train"])

    @property
    def status(self) -> str:
        s = self.config.get("status", "broken")
        if s == "running" and not _lock_alive(self.path / "lock"):
            return "interrupted"
        return s

    def history(self) -> list[dict]:
        if "history" not in self._read:
            p = self.path / "history.json"
            if not p.exists() and self.config.get("status") == "imported":
                rows = []
            else:
                rows = _read_json(p).get("epochs", [])
            self._read["history"] = rows[: self.config.get("epochs_done", len(rows))]
        return self._read["history"]

    def gradlog(self) -> GradLog | None:
        if "gradlog" not in self._read:
            p = self.path / "gradlog.safetensors"
            self._read["gradlog"] = load_gradlog(p).upto(self.config.get("epochs_done", 10**9)) if p.exists() else None
        return self._read["gradlog"]

    def load_model(self) -> ResNet:
        """The run's final weights (or its last checkpoint) in a freshly built model, eval mode."""
        try:
            model = build_model(self.spec)
        except (ModelSpecError, KeyError) as e:
            raise RunError(f"Run {self.id}: its model spec cannot be built ({e}).") from None
        weights = self.path / "weights.safetensors"
        if self.config.get("weights_omitted") and not weights.exists():
            raise RunError(f"Run {self.id}: {self.config['weights_omitted']}")
        if weights.exists():
            tensors, _ = _read_st(weights)
        else:
            ckpt = self.path / "checkpoint.safetensors"
            if not ckpt.exists():
                raise RunError(f"Run {self.id} has no weights yet (no finished epoch).")
            tensors = {k[6:]: v for k, v in _read_st(ckpt)[0].items() if k.startswith("model.")}
        load_weights_into(model, tensors, f"Run {self.id}'s weights")
        return model.eval()

    def summary(self) -> dict:
        c = self.config
        spec = c.get("model", {})
        final = c.get("final") or {}
        return {
            "run_id": self.id, "model": c.get("model_name", "?"), "variant": c.get("variant", "?"),
            "family": spec.get("family"), "depth": spec.get("depth"), "residual": spec.get("residual"),
            "batchnorm": spec.get("batchnorm"), "seed": c.get("train", {}).get("seed"), "status": self.status,
            "epochs_done": c.get("epochs_done", 0), "epochs": c.get("train", {}).get("epochs"),
            "data": c.get("data", {}).get("description"), "train_acc": final.get("train_acc"),
            "test_acc": final.get("test_acc"), "path": str(self.path), "reason": c.get("message", ""),
        }


def _lock_alive(lock: Path) -> bool:
    try:
        pid, host = lock.read_text().split()
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return True  # cannot tell for another machine; assume alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def acquire_lock(run_path: Path) -> None:
    """Take the run's lock (O_EXCL); a lock left by a dead process is taken over."""
    lock = run_path / "lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_alive(lock):
                raise RunError(f"Run {run_path.name} is being trained by another process ({lock.read_text().strip()}).") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}")
        return
    raise RunError(f"Could not lock run {run_path.name}.")


def release_lock(run_path: Path) -> None:
    (run_path / "lock").unlink(missing_ok=True)


# --------------------------------------------------------------------------- the store
def new_run_id(spec: ModelSpec, seed: int) -> str:
    return f"{spec.name}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def create_run(root: Path, spec: ModelSpec, cfg: TrainConfig, data_info: dict, probe_hash: str,
               run_id: str | None = None, status: str = "running", extra: dict | None = None) -> Run:
    """Make a new run folder (os.mkdir is atomic: two processes never share one) and its config."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        rid = run_id or new_run_id(spec, cfg.seed)
        path = root / rid
        try:
            path.mkdir()
            break
        except FileExistsError:
            if run_id:
                raise RunError(f"A run named {run_id} already exists in {root}.") from None
    else:
        raise RunError(f"Could not create a new run folder in {root}.")
    config = {
        "id": path.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": spec.to_dict(),
        "model_name": spec.name, "variant": spec.variant, "train": cfg.to_dict(), "data": data_info,
        "probe_hash": probe_hash, "versions": versions(), "status": status, "epochs_done": 0,
        "final": None, "diverged": None, "message": "", **(extra or {}),
    }
    atomic_write_json(path / "config.json", config)
    return Run(path, config)


def update_config(run: Run, **changes) -> None:
    run.config.update(changes)
    atomic_write_json(run.path / "config.json", run.config)


def save_epoch(run: Run, state: TrainState, spec: ModelSpec) -> None:
    """Everything about the finished epoch, history and gradient log first, checkpoint last."""
    save_gradlog(run.path / "gradlog.safetensors", state.gradlog)
    atomic_write_json(run.path / "history.json", {"epochs": state.history})
    tensors = {f"model.{k}": v for k, v in state.model.items()}
    tensors.update({f"optim.{k}": v for k, v in state.optimizer.items()})
    atomic_write_bytes(run.path / "checkpoint.safetensors",
                       save_st({k: v.contiguous() for k, v in tensors.items()},
                               metadata={"epoch": str(state.epoch), "step": str(state.step)}))
    last = state.history[-1]
    final = {k: last.get(k) for k in ("train_acc", "test_acc", "train_loss", "test_loss", "train_eval_acc", "train_eval_loss")}
    changes = {"epochs_done": state.epoch, "final": final}
    if state.status in ("finished", "diverged"):
        if state.status == "finished":
            write_weights(run.path / "weights.safetensors", state.model, spec)
        changes.update(status=state.status, diverged=state.diverged_at, message=state.message)
    update_config(run, **_finite(changes))
    if state.status == "finished":  # the final weights replace the resume state
        (run.path / "checkpoint.safetensors").unlink(missing_ok=True)


def _finite(obj):
    """JSON has no NaN: non-finite floats become None (the message says why)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def load_resume_state(run: Run) -> TrainState:
    """The state after the run's last finished epoch, with history and log cut to match."""
    ckpt = run.path / "checkpoint.safetensors"
    if not ckpt.exists():
        return TrainState(gradlog=GradLog.empty(build_model(run.spec).stage_names + ["head"]))
    tensors, meta = _read_st(ckpt)
    try:
        epoch, step = int(meta["epoch"]), int(meta["step"])
    except (KeyError, ValueError):
        raise RunError(f"checkpoint.safetensors in {run.path} has no epoch/step metadata.") from None
    history = _read_json(run.path / "history.json").get("epochs", [])
    if len(history) < epoch:
        raise RunError(f"Run {run.id}: history.json has {len(history)} epochs but the checkpoint is at epoch {epoch}.")
    gradlog = load_gradlog(run.path / "gradlog.safetensors").upto(epoch)
    return TrainState(
        epoch=epoch, step=step, history=history[:epoch], gradlog=gradlog,
        model={k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
        optimizer={k[6:]: v for k, v in tensors.items() if k.startswith("optim.")},
    )


def validate_run(run: Run) -> None:
    """Raise RunError if the run's files are inconsistent with its status."""
    try:
        spec = run.spec
        run.train_config
    except (ModelSpecError, ConfigError, KeyError, TypeError) as e:
        raise RunError(f"config.json of {run.id} is invalid: {e}") from None
    status = run.config.get("status")
    if status not in STATUSES:
        raise RunError(f"config.json of {run.id} has unknown status {status!r}.")
    if status in ("finished", "imported") and not run.config.get("weights_omitted"):
        tensors, _ = _read_st(run.path / "weights.safetensors")
        load_weights_into(build_model(spec), tensors, f"weights.safetensors of {run.id}")
    if run.config.get("epochs_done", 0) > 0:
        if (run.path / "checkpoint.safetensors").exists():
            load_resume_state(run)  # raises on a torn or inconsistent checkpoint
        if len(run.history()) < run.config["epochs_done"]:
            raise RunError(f"history.json of {run.id} has fewer epochs than config.json says.")


_CONFIG_TYPES = {"model": (dict,), "train": (dict,), "data": (dict,), "status": (str,), "epochs_done": (int,),
                 "final": (dict, type(None)), "diverged": (dict, type(None)), "message": (str,), "probe_hash": (str,)}
_REQUIRED = ("model", "train", "data", "status", "epochs_done")


def check_config(config: dict, where: str) -> None:
    """The shape of config.json: required keys present, every known key of the right type."""
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise RunError(f"config.json of {where} lacks {', '.join(missing)}.")
    for key, types in _CONFIG_TYPES.items():
        v = config.get(key)
        if key in config and (not isinstance(v, types) or (isinstance(v, bool) and bool not in types)):
            names = " or ".join("null" if t is type(None) else {"dict": "an object", "str": "a string", "int": "an integer"}[t.__name__]
                                for t in types)
            raise RunError(f"config.json of {where}: {key!r} must be {names}, got {type(v).__name__}.")
    if config["epochs_done"] < 0:
        raise RunError(f"config.json of {where}: 'epochs_done' must be >= 0.")


def open_run(root: Path, run_id: str, validate: bool = False) -> Run:
    root = Path(root)
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise RunError(f"Not a run id: {run_id!r}.")
    path = root / run_id
    if not path.is_dir():
        raise RunError(f"No run {run_id!r} in {root}; `python -m explorer runs --root {root}` lists them.")
    run = Run(path, _read_json(path / "config.json"))
    check_config(run.config, run_id)
    if validate:
        validate_run(run)
    return run


def list_runs(root: Path, validate: bool = True) -> list[Run | tuple[Path, str]]:
    """Every run under ``root``: a `Run`, or ``(path, reason)`` for a broken one. Never raises."""
    root = Path(root)
    out: list = []
    if not root.is_dir():
        return out
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (path / "config.json").exists() and not any(path.iterdir()):
            continue
        try:
            run = open_run(root, path.name, validate=validate)
            out.append(run)
        except (RunError, OSError) as e:
            out.append((path, str(e)))
    return out


def summaries(root: Path) -> list[dict]:
    rows = []
    for item in list_runs(root):
        if isinstance(item, Run):
            rows.append(item.summary())
        else:
            path, reason = item
            rows.append({"run_id": path.name, "model": "?", "status": "broken", "reason": reason, "path": str(path)})
    return rows


def delete_run(root: Path, run_id: str) -> None:
    run = open_run(root, run_id) if (Path(root) / run_id / "config.json").exists() else None
    path = Path(root) / run_id
    if run is not None and run.status == "running":
        raise RunError(f"Run {run_id} is training right now; cancel it first.")
    if not path.is_dir():
        raise RunError(f"No run {run_id!r} in {root}.")
    trash = path.with_name(f".deleting-{run_id}-{secrets.token_hex(2)}")
    os.replace(path, trash)  # atomic: the run disappears from listings at once
    shutil.rmtree(trash, ignore_errors=True)
