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

* ``landscape``: the loss and accuracy along the init-to-trained line and along one and two
  filter-normalised random directions around the trained weights (``explorer.studies.landscape``),
  on a fixed stratified subset of the training split (:class:`LandscapeSettings`); the probe set
  when the training data is not on this machine (the ``images_from`` column says which);
* ``shatter``: the correlation of input gradients along lines between probe images against
  their distance, and the correlation length (``explorer.studies.shatter``).

Results are cached under every input that changes them (weights, normalisation, probe set,
kind and its settings, code version); the zoo's ship with it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..analysis import cache
from ..analysis.inputs import input_key
from ..analysis.inputs import probe_for, run_mean_std
from ..data import Dataset, normalize
from ..runs import Run

KINDS = ("lesion", "profile", "signal", "landscape", "shatter")
LESION = {"draws": 3, "seed": 0}  # random deletion sets: draws per k, and their seed


class MechanismAnalysisError(ValueError):
    """A mechanism study that cannot be run; the message says why."""


def _int_in(name: str, v, lo: int, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise MechanismAnalysisError(f"{name} must be an integer from {lo} to {hi:,}, got {v!r}.")


@dataclass(frozen=True)
class LandscapeSettings:
    """What a landscape study evaluates: ``images`` training images (stratified, seed 0), ``points`` a
    1-D slice (the line and the random direction), ``grid`` x ``grid`` for the 2-D slice (0: none),
    steps in [-span, span] (the line: [0, 1]), directions drawn with ``seed``."""

    images: int = 1000
    points: int = 21
    grid: int = 11
    span: float = 1.0
    seed: int = 0

    def __post_init__(self):
        _int_in("images", self.images, 10, 50_000)
        _int_in("points", self.points, 3, 101)
        if self.grid != 0:
            _int_in("grid", self.grid, 3, 101)
        if self.points % 2 == 0 or self.grid % 2 == 0 and self.grid:
            raise MechanismAnalysisError("points and grid must be odd, so that the trained weights (step 0) lie on "
                                         f"the slice; got points {self.points}, grid {self.grid}.")
        _int_in("seed", self.seed, 0, 2 ** 32 - 1)
        if not isinstance(self.span, (int, float)) or isinstance(self.span, bool) or not 0 < self.span <= 10:
            raise MechanismAnalysisError(f"span must be a number in (0, 10], got {self.span!r}.")


@dataclass(frozen=True)
class ShatterSettings:
    """``lines`` lines between probe images of different classes, ``points`` gradients a line, the
    gradient of the true class's ``logit`` (or its ``loss``), lines drawn with ``seed``."""

    lines: int = 16
    points: int = 64
    target: str = "logit"
    seed: int = 0

    def __post_init__(self):
        _int_in("lines", self.lines, 1, 256)
        _int_in("points", self.points, 3, 512)
        _int_in("seed", self.seed, 0, 2 ** 32 - 1)
        if self.target not in ("logit", "loss"):
            raise MechanismAnalysisError(f"target must be logit or loss, got {self.target!r}.")


def _training_images(run: Run, ds, probe, mean, std, n: int):
    """A fixed stratified subset of the images the run trained on, normalised, and where it came from.

    A run trained on a subset (``train.subset``, the loop's stratified subset with seed 0) is
    evaluated on images of that subset only; ``n`` is capped at what there is.
    """
    from ..train.loop import stratified_subset
    if ds is None:
        return (normalize(probe.images, mean, std), probe.labels,
                f"probe set ({len(probe.labels)} test images; no training data here)")
    pool = torch.arange(len(ds.train_y))
    sub = run.record.train.subset if run.record.train is not None else None
    if sub is not None and sub < len(pool):
        pool = stratified_subset(ds.train_y, sub, seed=0)
    n = min(n, len(pool))
    idx = pool[stratified_subset(ds.train_y[pool], n, seed=0)]
    return normalize(ds.train_x[idx], mean, std), ds.train_y[idx], f"training images ({n}, stratified)"


def _landscape(run: Run, ds, probe, mean, std, cfg: LandscapeSettings, progress=None) -> pd.DataFrame:
    from .landscape import batch_evaluator, slice_points, to_frame
    from ..models import init_model
    x, y, source = _training_images(run, ds, probe, mean, std, cfg.images)
    model, ev = run.load_model(), batch_evaluator(x, y)
    views = (["line"] if run.seed is not None else []) + ["1d"] + (["2d"] if cfg.grid else [])
    sizes = {"line": cfg.points, "1d": cfg.points, "2d": cfg.grid ** 2}
    total, done, parts = sum(sizes[v] for v in views), 0, []
    for view in views:
        init = None
        if view == "line":
            with torch.random.fork_rng():
                init = init_model(run.spec, run.seed).state_dict()
        step = (lambda f, d=done, n=sizes[view]: progress((d + f * n) / total, view)) if progress else None
        parts.append(to_frame(slice_points(model, ev, view, points=cfg.grid if view == "2d" else cfg.points,
                                           span=cfg.span, init_state=init, seed=cfg.seed, progress=step)))
        done += sizes[view]
    return pd.concat(parts, ignore_index=True).assign(images_from=source)


def _test_split(run: Run, mean, std):
    """The run's full test split, normalised; the data's absence is one sentence saying how to get it."""
    from ..analysis.evaluation import eval_data
    data = eval_data(run)
    return normalize(data.test_x, mean, std), data.test_y


def _compute(run: Run, kind: str, x, y, test=None, shatter: ShatterSettings | None = None,
             progress=None) -> pd.DataFrame:
    from .. import studies as mech
    model = run.load_model()
    if kind == "shatter":
        from .shatter import shatter_study
        cfg = shatter or ShatterSettings()
        step = (lambda f: progress(f, "shatter")) if progress else None
        return shatter_study(model, x, y, lines=cfg.lines, points=cfg.points, target=cfg.target, seed=cfg.seed,
                             progress=step).to_frame()
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


def _settings_key(kind: str, test_set: bool, landscape: LandscapeSettings, shatter: ShatterSettings) -> dict:
    if kind == "lesion":
        return {**LESION, **({"test_set": True} if test_set else {})}
    return {"landscape": asdict(landscape), "shatter": asdict(shatter)}.get(kind, {})


def mechanism_table(run: Run, kind: str, data: Dataset | str | None = None, *, use_cache: bool = True,
                    cached_only: bool = False, ship: bool = False, test_set: bool = False,
                    landscape: LandscapeSettings = LandscapeSettings(), shatter: ShatterSettings = ShatterSettings(),
                    progress: Callable[[float, str], None] | None = None) -> pd.DataFrame | None:
    """One run's table of ``kind`` (cached); None when ``cached_only`` and not cached yet.

    ``test_set`` (lesion only): also delete each block over the run's full test split, which
    needs its data on this machine (one sentence says how to get it otherwise).
    ``landscape`` / ``shatter``: the settings of those studies (part of the cache key).
    """
    if kind not in KINDS:
        raise MechanismAnalysisError(f"Unknown kind {kind!r}; expected one of {', '.join(KINDS)}.")
    probe, ds, note = probe_for(run, data)
    mean, std = run_mean_std(run, ds)
    key = {**input_key(run, probe, mean, std, "gap"), "kind": f"mechanism-{kind}",
           "settings": _settings_key(kind, test_set, landscape, shatter)}
    reads, here = [key], True
    if kind == "landscape":  # on the run's training images when its data is here (the shipped results are), else the probe set
        fp = run.record.data.fingerprint
        train_key = {**key, "images": f"training split {fp}"}
        here = bool(ds is not None and fp and ds.fingerprint == fp)
        reads, key = ([train_key], train_key) if here else ([train_key, key], key)  # key: where a result is written
    rows = None
    for k in reads if use_cache else []:
        entry = cache.read_json(k)
        rows = entry.get("rows") if entry else None
        if rows_fit(kind, rows):
            if ship:  # found in the user's cache: ship that entry as it is
                cache.write_json(k, {"rows": rows}, shipped=True)
            break
        rows = None
    if rows is None:
        if cached_only:
            return None
        if kind == "landscape":
            df = _landscape(run, ds if here else None, probe, mean, std, landscape, progress)
        else:
            x = normalize(probe.images, mean, std)
            test = _test_split(run, mean, std) if (test_set and kind == "lesion") else None
            df = _compute(run, kind, x, probe.labels, test, shatter, progress)
        rows = json_rows(df)
        cache.write_json(key, {"rows": rows}, shipped=ship)
    df = pd.DataFrame(rows)
    df.insert(0, "run_id", run.id)
    df["probe_hash"], df["probe_note"] = probe.hash, note
    return df


# the columns every row of a study's table has (more may follow); a cached entry without them is a miss
_NUM, _OPT = (int, float), (int, float, str, type(None))
ROW_COLUMNS = {"lesion": {"view": str, "baseline_accuracy": _NUM, "n": int},
               "profile": {"stage": str, "block": _OPT, "n": int},
               "signal": {"stage": str, "block": _OPT, "n": int},
               "landscape": {"view": str, "loss": _NUM + (type(None),), "accuracy": _NUM + (type(None),)},
               "shatter": {"lag": _NUM, "correlation": _NUM + (type(None),)}}


def rows_fit(kind: str, rows) -> bool:
    """Whether cached rows are a table of ``kind``: a non-empty list of objects with its columns, typed."""
    need = ROW_COLUMNS.get(kind, {})
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
