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
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_json
from ..settings import SHIPPED_CACHE, cache_dir

MAX_ENTRY = 64 * 1024 * 1024


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _paths(key: dict, ext: str) -> list[Path]:
    name = f"{digest(key)}.{ext}"
    return [cache_dir() / "analysis" / name, SHIPPED_CACHE / name]


def read_json(key: dict) -> dict | None:
    """The cached JSON object of ``key`` (user cache, then shipped), or None."""
    for p in _paths(key, "json"):
        try:
            if p.is_file() and p.stat().st_size <= MAX_ENTRY:
                obj = json.loads(p.read_text())
                if isinstance(obj, dict):
                    return obj
        except (OSError, ValueError, RecursionError):
            continue
    return None


def write_json(key: dict, obj: dict, shipped: bool = False) -> None:
    atomic_write_json(_paths(key, "json")[1 if shipped else 0], {"key": key, **obj})


def read_arrays(key: dict) -> dict[str, np.ndarray] | None:
    """Cached float32 arrays of ``key`` (safetensors), or None."""
    from safetensors.numpy import load
    for p in _paths(key, "safetensors"):
        try:
            if p.is_file() and p.stat().st_size <= MAX_ENTRY:
                arrays = load(p.read_bytes())
                if arrays and all(a.dtype == np.float32 and a.ndim == 2 for a in arrays.values()):
                    return arrays
        except Exception:  # a damaged entry is a miss
            continue
    return None


def write_arrays(key: dict, arrays: dict[str, np.ndarray], shipped: bool = False) -> None:
    from safetensors.numpy import save
    data = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()},
                metadata={"key": json.dumps(key, sort_keys=True, default=str)})
    atomic_write_bytes(_paths(key, "safetensors")[1 if shipped else 0], data)
