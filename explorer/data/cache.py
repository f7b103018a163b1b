"""The decoded-data cache: one .npz per folder or zip listing, validated on every read.

A cache file is a convenience, never an authority: a file that cannot be read, lacks an array,
or holds an array of the wrong shape or dtype, labels out of range or a different listing key is
a cache miss (deleted and rebuilt from the source), never a data set.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, open_capped
from .dataset import IMAGE_SIZE, Dataset

MAX_CACHED_BYTES = 8 * 1024**3  # decoded images of the largest accepted archive (4 GB of JPEGs), with room

_KEYS = {"key", "train_x", "train_y", "test_x", "test_y", "classes", "description", "fingerprint"}


@dataclass(frozen=True)
class CachedArrays:
    train_x: np.ndarray  # (N, 3, 32, 32) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray  # (M, 3, 32, 32) uint8
    test_y: np.ndarray  # (M,) int64
    classes: list[str]
    description: str
    fingerprint: str


def _images_ok(x: np.ndarray, y: np.ndarray, k: int) -> bool:
    return (x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:] == (3, IMAGE_SIZE, IMAGE_SIZE)
            and y.dtype == np.int64 and y.shape == (x.shape[0],) and x.shape[0] > 0
            and int(y.min()) >= 0 and int(y.max()) < k)


def _valid(z: dict, key: str) -> CachedArrays | None:
    if set(z) != _KEYS:
        return None
    classes, desc, fp, k = z["classes"], z["description"], z["fingerprint"], z["key"]
    if classes.dtype.kind != "U" or classes.ndim != 1 or len(classes) < 2:
        return None
    if any(a.dtype.kind != "U" or a.ndim != 0 for a in (desc, fp, k)) or str(k) != key:
        return None
    if not re.fullmatch(r"[0-9a-f]{16}", str(fp)):
        return None
    if not (_images_ok(z["train_x"], z["train_y"], len(classes)) and _images_ok(z["test_x"], z["test_y"], len(classes))):
        return None
    return CachedArrays(z["train_x"], z["train_y"], z["test_x"], z["test_y"], [str(c) for c in classes], str(desc), str(fp))


def _members_ok(zf: zipfile.ZipFile) -> bool:
    """The archive holds exactly the arrays :func:`write_cached` writes, stored uncompressed (np.savez) and within
    the cap once read: a compressed member could unpack to far more than the file's size."""
    infos = zf.infolist()
    return ({i.filename for i in infos} == {f"{k}.npy" for k in _KEYS}
            and all(i.compress_type == zipfile.ZIP_STORED for i in infos)
            and sum(i.file_size for i in infos) <= MAX_CACHED_BYTES)


def read_cached(path: Path, key: str) -> CachedArrays | None:
    """The arrays cached at ``path`` for listing ``key``, or None (a miss; a bad file is deleted)."""
    if not path.exists():
        return None
    try:
        with open_capped(path, MAX_CACHED_BYTES, what="decoded data set") as fh, np.load(fh, allow_pickle=False) as npz:
            hit = _valid({name: npz[name] for name in npz.files}, key) if _members_ok(npz.zip) else None
    except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
        hit = None
    if hit is None:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # a folder or a file not ours to remove: stays a miss
            pass
    return hit


def write_cached(path: Path, key: str, ds: Dataset) -> None:
    """Cache a decoded data set atomically (a reader never sees half a file)."""
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key), train_x=ds.train_x.numpy(), train_y=ds.train_y.numpy(), test_x=ds.test_x.numpy(),
             test_y=ds.test_y.numpy(), classes=np.array(ds.classes), description=np.array(ds.description),
             fingerprint=np.array(ds.fingerprint))
    atomic_write_bytes(path, buf.getvalue())
