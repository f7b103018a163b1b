"""A study's table of one run, cached under every input that changes it: the run's input key (weights,
input normalisation, probe set, code version), the study's name and its settings' part of the key,
and, for a study that says so (``Study.reads``), the image set it used. The zoo's ship with it."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ...analysis import cache
from ...analysis.inputs import inputs_for
from ...data import Dataset
from ...runs import Run
from .base import Study, get


def study_key(study: Study, base: dict, settings) -> dict:
    return {**base, "kind": f"mechanism-{study.name}", "settings": study.settings_key(settings)}


def study_table(run: Run, name: str | Study, settings=None, data: Dataset | str | None = None, *,
                use_cache: bool = True, cached_only: bool = False, ship: bool = False,
                progress: Callable[[float, str], None] | None = None) -> pd.DataFrame | None:
    """One run's table of a study (cached); None when ``cached_only`` and not cached yet."""
    study = name if isinstance(name, Study) else get(name)
    settings = study.defaults() if settings is None else settings
    inputs = inputs_for(run, data)
    key = study_key(study, inputs.key("gap"), settings)
    reads, write = study.reads(run, inputs) if study.reads is not None else ([{}], {})
    rows = None
    for extra in reads if use_cache else []:
        entry = cache.read_json({**key, **extra})
        rows = entry.get("rows") if entry else None
        if rows_fit(study, rows):
            if ship:  # found in the user's cache: ship that entry as it is
                cache.write_json({**key, **extra}, {"rows": rows}, shipped=True)
            break
        rows = None
    if rows is None:
        if cached_only:
            return None
        rows = json_rows(study.compute(run, inputs, settings, progress))
        cache.write_json({**key, **write}, {"rows": rows}, shipped=ship)
    df = pd.DataFrame(rows)
    df.insert(0, "run_id", run.id)
    df["probe_hash"], df["probe_note"] = inputs.probe.hash, inputs.note
    return df


def rows_fit(study: Study, rows) -> bool:
    """Whether cached rows are a table of ``study``: a non-empty list of objects with its columns, typed."""
    need = study.columns or {}
    return isinstance(rows, list) and bool(rows) and all(
        isinstance(r, dict) and all(k in r and isinstance(r[k], t) and not isinstance(r[k], bool) for k, t in need.items())
        for r in rows)


def json_rows(df: pd.DataFrame) -> list[dict]:
    """Records with NaN as None (JSON has no NaN) and numpy scalars as Python ones."""
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out
