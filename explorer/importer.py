"""Import weights trained elsewhere: safetensors, or PyTorch state dicts loaded with
``torch.load(weights_only=True)`` (never a plain unpickle), mapped onto the explorer's model.

Key names from the common CIFAR ResNet code are mapped:

* kuangliu / akamaster style: ``conv1``, ``bn1``, ``layer1..4.<j>.{conv,bn}N``, ``shortcut.N``, ``linear``;
* torchvision style: the same with ``downsample.N`` and ``fc``;
* a ``module.`` prefix (DataParallel / DDP) is dropped.

An imported model becomes a run like any other (status ``imported``, no training history).
"""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import torch

from .models import ModelSpec, build_model
from .runs import DataInfo, ImportSource, RunError, create_run, delete_run, load_weights_into, write_weights

DEFAULT_MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB: larger than any model here


class ImportRefused(RunError):
    """A file that is not accepted as weights; the message says why."""


def _map_key(key: str) -> str:
    key = re.sub(r"^(module\.)+", "", key)
    key = re.sub(r"^conv1\.", "stages.0.0.", key)
    key = re.sub(r"^bn1\.", "stages.0.1.", key)
    key = re.sub(r"^layer(\d+)\.", r"stages.\1.", key)
    key = key.replace(".downsample.", ".shortcut.")
    key = re.sub(r"^(linear|fc)\.", "fc.", key)
    return key


def _state_dict_from(obj, source: str) -> dict[str, torch.Tensor]:
    """A dict of tensors, possibly nested one level (``{"net": ..., "acc": ...}``, ``{"state_dict": ...}``)."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for name in ("state_dict", "model_state_dict", "net", "model"):
            v = obj.get(name)
            if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor) for t in v.values()):
                return v
    raise ImportRefused(f"{source} holds no state dict (a mapping of names to tensors); save one with "
                        "torch.save(model.state_dict(), path) or use safetensors.")


def read_weights(data: bytes, filename: str) -> dict[str, torch.Tensor]:
    """Tensors from the bytes of a .safetensors or .pt/.pth file. Never runs code from the file."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load
        try:
            return load(data)
        except (SafetensorError, ValueError, RuntimeError) as e:
            raise ImportRefused(f"{filename} is not a valid safetensors file ({str(e)[:80]}).") from None
    if suffix in (".pt", ".pth"):
        import pickle
        try:
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            if "GLOBAL" not in str(e):  # not a blocked object: the bytes are simply not a PyTorch file
                raise ImportRefused(f"{filename} is not a readable PyTorch file ({str(e)[:60]}).") from None
            raise ImportRefused(f"{filename} contains Python objects other than tensors and plain containers; such "
                                "files can run code when loaded, so it was refused. Save a state dict or use safetensors.") from None
        except (RuntimeError, EOFError, ValueError, OSError) as e:
            raise ImportRefused(f"{filename} is not a readable PyTorch file ({type(e).__name__}).") from None
        return _state_dict_from(obj, filename)
    raise ImportRefused(f"{filename}: expected a .safetensors, .pt or .pth file.")


def map_state_dict(tensors: dict[str, torch.Tensor], spec: ModelSpec, source: str) -> dict[str, torch.Tensor]:
    """Rename keys onto the explorer's model; fill BatchNorm's step counters if absent; check everything else."""
    mapped = {_map_key(k): v for k, v in tensors.items()}
    model = build_model(spec)
    expected = model.state_dict()
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in mapped:
            mapped[k] = v.clone()  # a counter only; some code does not save it
    load_weights_into(model, mapped, source)  # raises a precise RunError on any mismatch
    return {k: mapped[k].to(expected[k].dtype) for k in expected}


def import_file(path: str | Path | None, spec: ModelSpec, root: Path, *, data: bytes | None = None,
                filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, data_info: DataInfo | None = None,
                owner: str = ""):
    """Import a weights file (or uploaded bytes) as a new run under ``root``; returns the run."""
    filename = filename or (Path(path).name if path else "upload")
    if data is None:
        p = Path(path)
        if not p.is_file():
            raise ImportRefused(f"No such file: {path}.")
        size = p.stat().st_size
        if size > max_bytes:
            raise ImportRefused(f"{filename} is {size:,} bytes, more than the {max_bytes:,} allowed.")
        data = p.read_bytes()
    elif len(data) > max_bytes:
        raise ImportRefused(f"{filename} is {len(data):,} bytes, more than the {max_bytes:,} allowed.")
    state = map_state_dict(read_weights(data, filename), spec, filename)
    info = data_info or DataInfo(name=None, source=None, description="unknown (imported weights)", fingerprint="",
                                 classes=None)
    source = ImportSource(Path(filename).name, hashlib.sha256(data).hexdigest())
    run = create_run(root, spec, None, info, "", status="imported", owner=owner, import_source=source)
    try:
        write_weights(run.path / "weights.safetensors", state, spec)
    except BaseException:
        delete_run(root, run.id)  # never a run that says imported without its weights
        raise
    return run
