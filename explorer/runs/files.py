"""Reading and writing a run's files, bounded: nothing in a run folder can hang or exhaust a reader.

A file is read only if it is a regular file (no FIFO, device or socket), a link only when it
stays inside its run folder, and only up to a size cap; JSON nested too deep or of the wrong
shape is a `RunError`. Writes are atomic (explorer.atomic). Only safetensors and JSON are
ever read: nothing here unpickles.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load as np_load_st
from safetensors.numpy import save as np_save_st
from safetensors.torch import load as load_st
from safetensors.torch import save as save_st

from ..atomic import FileMissing, FileRefused, atomic_write_bytes, hash_capped, read_capped, read_json_capped
from ..models import ModelSpec
from ..settings import shorten
from ..train import GradLog

MB = 1024 * 1024
JSON_CAP = 4 * MB  # config.json, history.json, progress.json
GRADLOG_CAP = 256 * MB  # 4 bytes x 2 stats x ~6 groups x 5M steps
JSON_DEPTH = 32  # deepest nesting a run file needs is 4
WEIGHTS_CAP = 2048 * MB  # the largest weights or checkpoint file hashed (a ResNet-152 checkpoint is ~0.5 GB)


class RunError(ValueError):
    """A run that cannot be found, read or loaded; the message says what is wrong."""


def _where(path: Path) -> str:
    return f"{path.name} in {shorten(path.parent.name, 80)}"


def _refused(path: Path, e: FileRefused) -> RunError:
    if isinstance(e, FileMissing):
        return RunError(f"{path.name} is missing in {shorten(path.parent.name, 80)}.")
    return RunError(str(e).replace("a link out of its folder", "a link out of its run folder"))


def read_bounded(path: Path, cap: int) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes; a link must stay in its folder (explorer.atomic's door)."""
    try:
        return read_capped(path, cap, within=path.parent, what="run file", label=_where(path))
    except FileRefused as e:
        raise _refused(path, e) from None


def hash_bounded(path: Path, cap: int) -> str:
    """sha256 (hex) of a run file of at most ``cap`` bytes, read in bounded chunks through the same door."""
    try:
        return hash_capped(path, cap, within=path.parent, what="run file", label=_where(path))
    except FileRefused as e:
        raise _refused(path, e) from None


def read_json(path: Path, cap: int = JSON_CAP) -> dict:
    try:
        return read_json_capped(path, cap, within=path.parent, what="run file", depth=JSON_DEPTH, label=_where(path))
    except FileRefused as e:
        raise _refused(path, e) from None


def st_metadata(data: bytes) -> dict:
    """The ``__metadata__`` of a safetensors file's bytes (the JSON header after an 8-byte length)."""
    n = int.from_bytes(data[:8], "little")
    if n > min(len(data) - 8, 100 * MB):
        raise ValueError("header length beyond the file")
    meta = json.loads(data[8:8 + n]).get("__metadata__", {}) or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata is not an object")
    return meta


def read_st(path: Path, cap: int) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a safetensors file; a truncated or foreign file is a RunError."""
    data = read_bounded(path, cap)
    try:
        tensors, meta = load_st(data), st_metadata(data)
    except Exception as e:  # any malformed content (a dtype this torch cannot hold raises KeyError) is reported
        raise RunError(f"{_where(path)} is not a valid safetensors file ({str(e)[:80]}).") from None
    return tensors, meta


def weights_cap(model_state: dict[str, torch.Tensor], optimizer: bool = False) -> int:
    """The largest size a weights (or checkpoint) file of this model can honestly have."""
    n = sum(t.numel() * t.element_size() for t in model_state.values())
    return int(n * (2.2 if optimizer else 1.1)) + 4 * MB  # room for the header and momentum buffers


def write_weights(path: Path, state_dict: dict[str, torch.Tensor], spec: ModelSpec) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(path, save_st(tensors, metadata={"spec": json.dumps(spec.to_dict())}))


def write_checkpoint(path: Path, model: dict[str, torch.Tensor], optimizer: dict[str, torch.Tensor], epoch: int,
                     step: int) -> None:
    tensors = {f"model.{k}": v for k, v in model.items()}
    tensors.update({f"optim.{k}": v for k, v in optimizer.items()})
    atomic_write_bytes(path, save_st({k: v.contiguous() for k, v in tensors.items()},
                                     metadata={"epoch": str(epoch), "step": str(step)}))


def load_weights_into(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
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
    data = read_bounded(path, GRADLOG_CAP)
    try:
        arrays = np_load_st(data)
        groups = json.loads(st_metadata(data)["groups"])
        log = GradLog(groups, arrays["mean_abs"], arrays["l2"], arrays["loss"], arrays["lr"], arrays["epoch"])
        steps = len(log.epoch)
        if not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)
                and log.mean_abs.shape == log.l2.shape == (steps, len(groups))
                and log.loss.shape == log.lr.shape == log.epoch.shape == (steps,)):
            raise ValueError("arrays of inconsistent shapes")
        if steps and not (np.isfinite(log.epoch).all() and (log.epoch >= 0).all() and (log.epoch == np.round(log.epoch)).all()):
            raise ValueError("epochs that are not whole numbers")
        return log
    except Exception as e:  # any malformed content is reported, never trusted
        raise RunError(f"{_where(path)} is not a valid gradient log ({e.__class__.__name__}).") from None


def read_history(path: Path, epochs_done: int) -> list[dict]:
    """history.json's rows (one an epoch), checked for shape; cut to the epochs the record counts."""
    rows = read_json(path).get("epochs")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("epoch"), int) for r in rows):
        raise RunError(f"{_where(path)} must hold {{\"epochs\": [one object an epoch, with its number]}}.")
    for r in rows:
        for k, v in r.items():
            per_class = k.endswith("per_class") and isinstance(v, list) and all(
                x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)
            if not (v is None or per_class or (isinstance(v, (int, float)) and not isinstance(v, bool))):
                raise RunError(f"{_where(path)}: epoch {r['epoch']} has a {type(v).__name__} under {k!r}.")
    if len(rows) < epochs_done:
        raise RunError(f"{_where(path)} has {len(rows)} epochs but config.json says {epochs_done} are done.")
    return rows[:epochs_done]
