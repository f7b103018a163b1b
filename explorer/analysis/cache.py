"""The analysis cache: results stored under a hash of every input that changes them.

An entry is looked up first in the user's cache (``settings.cache_dir()/analysis``), then in
the cache shipped with the zoo (``checkpoints/analysis``), so a fresh clone opens the zoo's
comparisons without computing a metric. `python -m explorer ship-cache` writes the shipped
entries. An entry that is damaged or of the wrong shape is a miss: it is recomputed and
rewritten, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..atomic import FileRefused, atomic_write_bytes, clean_stale_temps, read_capped, read_json_capped
from ..settings import SHIPPED_CACHE, cache_dir

MAX_ENTRY = 64 * 1024 * 1024  # arrays: the flat views of every stage of a large model
MAX_JSON = 2 * 1024 * 1024  # a JSON entry (the largest shipped one is ~50 KB): 60 MB of `{}` rows would take GBs
MAX_ROWS = 20_000  # rows of a JSON entry
TEMP_AGE_S = 3600  # a write's temporary file older than this was left by a killed writer


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _paths(key: dict, ext: str) -> list[Path]:
    name = f"{digest(key)}.{ext}"
    return [cache_dir() / "analysis" / name, SHIPPED_CACHE / name]


def read_json(key: dict) -> dict | None:
    """The cached JSON object of ``key`` (user cache, then shipped), or None.

    Read through the door (regular files only, MAX_JSON bytes); an entry whose "rows" are not a
    list of at most MAX_ROWS objects of finite scalars is a miss. What the rows mean is checked
    by their reader (explorer.analysis.table, explorer.studies.catalog.tables)."""
    for p in _paths(key, "json"):
        try:
            obj = read_json_capped(p, MAX_JSON, what="cache entry")
        except FileRefused:  # missing, a folder, a FIFO, too large, not JSON: a miss
            continue
        rows = obj.get("rows")
        if "rows" in obj and not _scalar_rows(rows):
            continue
        return obj
    return None


def _scalar_rows(rows) -> bool:
    """A non-empty list of at most MAX_ROWS objects whose values are strings, booleans, finite numbers or null."""
    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_ROWS:
        return False
    for r in rows:
        if not isinstance(r, dict) or not r:
            return False
        for v in r.values():
            if isinstance(v, float) and not math.isfinite(v):
                return False
            if not (v is None or isinstance(v, (str, bool, int, float))):
                return False
    return True


def _write(path: Path, data: bytes, shipped: bool) -> None:
    """Write an entry; the user's cache is best effort (a path that cannot be written stays a miss)."""
    clean_stale_temps(path.parent, TEMP_AGE_S)
    try:
        atomic_write_bytes(path, data)
    except (FileRefused, OSError):
        if shipped:
            raise


def write_json(key: dict, obj: dict, shipped: bool = False) -> None:
    text = json.dumps({"key": key, **obj}, indent=2, sort_keys=True, allow_nan=False) + "\n"
    _write(_paths(key, "json")[1 if shipped else 0], text.encode("utf-8"), shipped)


def read_arrays(key: dict, *, rows: int | None = None, cols: int | None = None,
                min_cols: int = 1) -> dict[str, np.ndarray] | None:
    """Cached float32 arrays of ``key`` (safetensors), or None.

    Every array must be 2-D float32 and finite, with ``rows`` rows and ``cols`` (or at least
    ``min_cols``) columns where given; anything else is a miss."""
    from safetensors.numpy import load
    for p in _paths(key, "safetensors"):
        try:
            arrays = load(read_capped(p, MAX_ENTRY, what="cache entry"))
        except Exception:  # noqa: BLE001 - missing, refused or damaged: a miss
            continue
        if arrays and all(_array_ok(a, rows, cols, min_cols) for a in arrays.values()):
            return arrays
    return None


def _array_ok(a: np.ndarray, rows: int | None, cols: int | None, min_cols: int) -> bool:
    return (a.dtype == np.float32 and a.ndim == 2 and (rows is None or a.shape[0] == rows) and a.shape[0] > 0
            and (a.shape[1] == cols if cols is not None else a.shape[1] >= min_cols) and bool(np.isfinite(a).all()))


def write_arrays(key: dict, arrays: dict[str, np.ndarray], shipped: bool = False) -> None:
    from safetensors.numpy import save
    data = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()},
                metadata={"key": json.dumps(key, sort_keys=True, default=str)})
    _write(_paths(key, "safetensors")[1 if shipped else 0], data, shipped)


def entry_key(path: Path) -> dict | None:
    """The key an entry file was written under (JSON: its "key"; safetensors: its metadata), or None."""
    try:
        if path.suffix == ".json":
            key = read_json_capped(path, MAX_JSON, what="cache entry").get("key")
        else:
            from ..runs.files import st_metadata
            head = read_capped(path, MAX_ENTRY, what="cache entry")
            key = json.loads(st_metadata(head).get("key", "null"))
    except Exception:  # noqa: BLE001 - whatever the file holds (a list, a number as its key), it has no key
        return None
    return key if isinstance(key, dict) else None
