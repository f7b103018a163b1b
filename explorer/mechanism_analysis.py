"""Runs x blocks x mechanism measures -> tidy tables, cached like the separability analysis.

Three kinds, each on the run's probe set (resolved as for the separability analysis: the
run's own data, a matching copy, or the shipped probe images), with the run's own input
normalisation:

* ``lesion``: accuracy and loss with each single block deleted (``view`` = "single"), and
  against the number k of blocks deleted at random (``view`` = "curve"; mean and spread over
  draws) — Veit et al. 2016;
* ``profile``: per-block LDA accuracy, usable information and Fisher ratio, and linear CKA
  with the previous block;
* ``signal``: per-block branch and output std, Var(branch)/Var(shortcut), stable rank and the
  loss gradient's norm, for the trained weights (``weights`` = "trained", BatchNorm with its
  running statistics) and for the run's initial weights rebuilt from its seed (``weights`` =
  "init", BatchNorm with the batch's statistics: a fresh net's running statistics are 0 and 1).

Results are cached under every input that changes them (weights, normalisation, probe set,
kind and its settings, code version); the zoo's ship with it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from . import cache
from .analysis import _input_key, probe_for, run_mean_std
from .data import Dataset, normalize
from .runs import Run

KINDS = ("lesion", "profile", "signal")
LESION = {"draws": 3, "seed": 0}  # random deletion sets: draws per k, and their seed


class MechanismAnalysisError(ValueError):
    """A mechanism study that cannot be run; the message says why."""


def _test_split(run: Run, mean, std):
    """The run's full test split, normalised; the data's absence is one sentence saying how to get it."""
    from .evaluation import eval_data
    data = eval_data(run)
    return normalize(data.test_x, mean, std), data.test_y


def _compute(run: Run, kind: str, x, y, test=None) -> pd.DataFrame:
    from . import mechanisms as mech
    model = run.load_model()
    if kind == "lesion":
        study = mech.lesion_study(model, x, y, draws=LESION["draws"], seed=LESION["seed"])
        parts = [study.singles.to_frame().assign(view="single"), study.curve.to_frame().assign(view="curve")]
        if test is not None:  # the same single-block lesions over the full test split
            parts.append(mech.single_lesions(model, *test).to_frame().assign(view="single (test set)"))
        return pd.concat(parts, ignore_index=True)
    if kind == "profile":
        return mech.block_profiles(model, x, y).to_frame()
    parts = [mech.signal_profile(model, x, y).to_frame()]
    if run.seed is not None:  # imported weights have no known initialisation
        parts.append(mech.signal_at_init(run.spec, run.seed, x, y).to_frame())
    return pd.concat(parts, ignore_index=True)


def mechanism_table(run: Run, kind: str, data: Dataset | str | None = None, *, use_cache: bool = True,
                    cached_only: bool = False, ship: bool = False, test_set: bool = False) -> pd.DataFrame | None:
    """One run's table of ``kind`` (cached); None when ``cached_only`` and not cached yet.

    ``test_set`` (lesion only): also delete each block over the run's full test split, which
    needs its data on this machine (one sentence says how to get it otherwise).
    """
    if kind not in KINDS:
        raise MechanismAnalysisError(f"Unknown kind {kind!r}; expected one of {', '.join(KINDS)}.")
    probe, ds, note = probe_for(run, data)
    mean, std = run_mean_std(run, ds)
    key = {**_input_key(run, probe, mean, std, "gap"), "kind": f"mechanism-{kind}",
           "settings": {**LESION, **({"test_set": True} if test_set else {})} if kind == "lesion" else {}}
    entry = cache.read_json(key) if use_cache else None
    rows = entry.get("rows") if entry else None
    if not (isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)):
        if cached_only:
            return None
        x = normalize(probe.images, mean, std)
        test = _test_split(run, mean, std) if (test_set and kind == "lesion") else None
        df = _compute(run, kind, x, probe.labels, test)
        rows = json_rows(df)
        cache.write_json(key, {"rows": rows}, shipped=ship)
    df = pd.DataFrame(rows)
    df.insert(0, "run_id", run.id)
    df["probe_hash"], df["probe_note"] = probe.hash, note
    return df


def json_rows(df: pd.DataFrame) -> list[dict]:
    """Records with NaN as None (JSON has no NaN) and numpy scalars as Python ones."""
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out


def mechanism_tables(runs: list[Run], kind: str, *, use_cache: bool = True,
                     progress: Callable[[float, str], None] | None = None) -> pd.DataFrame:
    """Many runs -> one table, with each run's label and condition (explorer.tables.label_table)."""
    from .tables import label_table
    parts = []
    for i, run in enumerate(runs):
        if progress is not None:
            progress(i / max(1, len(runs)), f"{run.id}: {kind}")
        parts.append(mechanism_table(run, kind, use_cache=use_cache))
    if not parts:
        return pd.DataFrame()
    return label_table(pd.concat(parts, ignore_index=True), runs)
