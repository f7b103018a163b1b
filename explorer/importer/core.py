"""A weights file (a path, or uploaded bytes) becomes a run: status ``imported``, no training config.

The order matters for safety: the extension is checked, then the file's size against the cap
before a byte is read, then the format is decided from the bytes and the sizes the file
declares are checked against `formats.import_limit` (the model's own size x 2 + 16 MB), and
only then is anything unpacked (`formats.load_object`). The run records where its weights came
from (file name, sha256) and the input normalisation they expect.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..atomic import FileMissing, FileRefused, read_capped
from ..models import ModelSpec, build_model
from ..runs import DataInfo, ImportSource, create_run, delete_run, write_weights
from ..settings import shorten
from .formats import ImportRefused, import_limit, load_object
from .keys import find_state_dict, map_state_dict
from .normalization import Normalization, with_normalization

DEFAULT_MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB: larger than any model here
EXTENSIONS = (".th", ".tar", ".ckpt", ".bin", ".pt", ".pth", ".safetensors")
UNKNOWN_DATA = DataInfo(name=None, source=None, description="unknown (imported weights)", fingerprint="", classes=None)


def check_extension(filename: str) -> None:
    if Path(filename).suffix.lower() not in EXTENSIONS:
        raise ImportRefused(f"{shorten(Path(filename).name, 80)} is not a weights file this importer accepts; expected "
                            f"one of {', '.join(EXTENSIONS)}.")


def model_bytes(spec: ModelSpec) -> int:
    """Bytes of the model's state dict (parameters, buffers) in its own dtypes."""
    return sum(t.numel() * t.element_size() for t in build_model(spec).state_dict().values())


def read_weights(data: bytes, filename: str, limit: int = DEFAULT_MAX_BYTES) -> dict[str, torch.Tensor]:
    """The state dict in a weights file's bytes, its format judged from the bytes; never runs code from the file.

    ``limit``: the most tensor bytes the file may declare (checked before anything is unpacked).
    """
    check_extension(filename)
    name = shorten(Path(filename).name, 80)
    return find_state_dict(load_object(data, name, limit), name)


def _read_file(path: str | Path, max_bytes: int) -> bytes:
    """The file's bytes through the door (a regular file, at most ``max_bytes``); the path is the user's own choice."""
    try:
        return read_capped(path, max_bytes, within="/", what="weights file", label=shorten(Path(path).name, 80))
    except FileMissing:
        raise ImportRefused(f"No such file: {shorten(path)}.") from None
    except FileRefused as e:
        raise ImportRefused(str(e).replace(" a weights file may have", " allowed")) from None


def import_file(path: str | Path | None, spec: ModelSpec, root: Path, *, data: bytes | None = None,
                filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, data_info: DataInfo | None = None,
                normalization: Normalization | None = None, owner: str = ""):
    """Import a weights file (or uploaded bytes) as a new run under ``root``; returns the run.

    ``data_info``: the data set the weights were trained on (None: unknown); ``normalization``:
    the input statistics they expect (None: the data set's own).
    """
    filename = filename or (Path(path).name if path else "upload")
    check_extension(filename)
    if data_info is not None and data_info.classes and len(data_info.classes) != spec.num_classes:
        raise ImportRefused(f"{spec.name} has {spec.num_classes} outputs but {shorten(data_info.description, 60)} has "
                            f"{len(data_info.classes)} classes; give the model as many outputs as the data has classes.")
    if data is None:
        data = _read_file(path, max_bytes)
    elif len(data) > max_bytes:
        raise ImportRefused(f"{shorten(Path(filename).name, 80)} is {len(data):,} bytes, more than the "
                            f"{max_bytes:,} allowed.")
    name = shorten(Path(filename).name, 80)
    state = map_state_dict(read_weights(data, filename, import_limit(model_bytes(spec), max_bytes)), spec, name)
    info = with_normalization(data_info or UNKNOWN_DATA, normalization or Normalization("data"))
    source = ImportSource(Path(filename).name, hashlib.sha256(data).hexdigest())
    run = create_run(root, spec, None, info, "", status="imported", owner=owner, import_source=source)
    try:
        write_weights(run.path / "weights.safetensors", state, spec)
    except BaseException:
        delete_run(root, run.id)  # never a run that says imported without its weights
        raise
    return run
