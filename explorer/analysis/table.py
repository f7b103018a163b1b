"""Runs x stages x metrics -> one tidy table, cached on disk; CSV export.

A row is one (run, stage, metric) with the run's provenance beside the value. Each metric's rows
of a run are cached under their own key (:func:`metric_key`): the run's input key (weights' hash,
input normalisation, probe set, reduction, package version) and only that metric's settings, so
analysing the same runs again is instant, any subset of metrics is served from what is cached, and
only the metrics not cached yet are scored.
"""
from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from ..atomic import atomic_write_bytes
from . import cache
from ..data import Dataset, DataError, load_dataset
from .inputs import AnalysisInputs, inputs_for
from .features import REDUCTIONS, extract_reductions
from .projection import all_projections
from ..runs import Run, RunError, label_runs
from . import scoring
from .. import separability as sep

DEFAULT_METRICS = ["fisher_trace_ratio", "fisher_criterion", "lda_accuracy", "mi_probe_bits", "mi_knn_bits"]
SETTINGS = scoring.SETTINGS  # the metric parameters, part of the cache key
COLUMNS = ["run_id", "label", "condition", "condition_label", "status", "model", "variant", "family", "depth", "residual",
           "batchnorm", "seed", "epochs_trained", "dataset", "lr", "test_acc", "stage", "reduction", "dims", "n", "metric", "value", "note", "probe_hash", "probe_note"]


class AnalysisError(ValueError):
    """Analysis input that cannot be used; the message says what was expected."""


def check_metrics(metrics: list[str]) -> list[str]:
    unknown = [m for m in metrics if m not in sep.METRICS]
    if unknown:
        raise AnalysisError(f"Unknown metric(s) {', '.join(unknown)}; expected some of {', '.join(sep.METRICS)}.")
    if not metrics:
        raise AnalysisError("No metric chosen.")
    return list(dict.fromkeys(metrics))


def embedded(feats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One isometric n x r copy a stage (PCA scores from the n x n Gram matrix when d > n): every
    metric and every 2-D view gives the same on it as on the features, and the Gram work is done once."""
    return {stage: sep.embed(X) for stage, X in feats.items()}


def embedding(feats: dict[str, np.ndarray], into: dict[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray, int]]:
    """(stage, embedded features, own width), stage by stage, each kept in ``into``; a stage's features leave
    ``feats`` once embedded (a flat stage is tens of MB). While a worker scores, the Gram matrix takes one thread."""
    threads = 1 if scoring.active() else None
    for stage in list(feats):
        X = feats.pop(stage)
        into[stage] = sep.embed(X, gram_threads=threads)
        yield stage, into[stage], int(X.shape[1])


def score_features(feats: dict[str, np.ndarray], y: np.ndarray, metrics: list[str],
                   progress: Callable[[float, str], None] | None = None) -> list[dict]:
    """{stage: (n, d)} -> rows of stage, dims, n, metric, value, note."""
    with sep.one_blas_thread():
        return scoring.score_stages(embedding(dict(feats), {}), y, metrics, progress)


def _provenance(run: Run) -> dict:
    rec = run.record
    return {"run_id": run.id, "status": run.status, "model": rec.model.name, "variant": rec.model.variant,
            "family": rec.model.family, "depth": rec.model.depth, "residual": rec.model.residual,
            "batchnorm": rec.model.batchnorm, "seed": rec.seed, "epochs_trained": rec.epochs_done,
            "dataset": rec.data.description, "lr": None if rec.train is None else rec.train.lr,
            "test_acc": None if rec.final is None else rec.final.test_acc}


_ROW_KEYS = {"stage": str, "dims": int, "n": int, "metric": str, "note": str}


def _rows(entry: dict | None) -> list[dict] | None:
    """The rows of a cache entry, or None when absent or of the wrong shape (then recomputed)."""
    rows = (entry or {}).get("rows")
    ok = isinstance(rows, list) and rows and all(
        isinstance(r, dict) and all(isinstance(r.get(k), t) for k, t in _ROW_KEYS.items())
        and (r.get("value") is None or isinstance(r["value"], (int, float))) for r in rows)
    return rows if ok else None


def run_features(inputs: AnalysisInputs, reduction: str = "gap", *,
                 progress: Callable[[float], None] | None = None, ship: bool = False,
                 use_cache: bool = True) -> dict[str, np.ndarray]:
    """Stage features of the probe set, extracted once per run, reduction and probe set.

    gap features (a few hundred KB a run) are kept in the analysis cache and shared by the table,
    the 2-D projections and CKA; flat ones (tens of MB) are recomputed. A flat extraction keeps the
    gap features of the same pass too, so that the CKA views (gap) need no second pass.
    """
    run = inputs.run
    gap_key = {**inputs.key("gap"), "kind": "features"}
    # (n_probe, d>1), finite
    cached = cache.read_arrays(gap_key, rows=len(inputs.probe.labels), min_cols=2) if use_cache else None
    if cached is not None and set(cached) == set(run.spec.stage_names):
        if reduction == "gap":
            return {s: cached[s] for s in run.spec.stage_names}
        reductions = (reduction,)  # the gap features are kept already
    else:
        reductions = tuple(dict.fromkeys((reduction, "gap")))
    feats = extract_reductions(run.load_model(), inputs.probe.images, inputs.mean, inputs.std, reductions,
                               progress=progress)
    if "gap" in feats:
        cache.write_arrays(gap_key, feats["gap"], shipped=ship)
    return feats[reduction]


def analyze_run(run: Run, data: Dataset | str | None = None, reduction: str = "gap", metrics: list[str] | None = None,
                *, use_cache: bool = True, progress: Callable[[float, str], None] | None = None,
                cached_only: bool = False, ship: bool = False) -> pd.DataFrame | None:
    """The tidy table of one run on its probe set (cached). ``data``: a data set to take the probe from
    instead of the run's own (resolved on this machine: its data, a matching copy, or the shipped probe)."""
    begun = _begin(run, data, reduction, metrics, use_cache=use_cache, progress=progress, cached_only=cached_only,
                   ship=ship)
    return begun if begun is None or isinstance(begun, pd.DataFrame) else begun.table()


def analyze_each(runs: list[Run], data: Dataset | str | None = None, reduction: str = "gap",
                 metrics: list[str] | None = None, *, use_cache: bool = True,
                 progress: Callable[[int, float, str], None] | None = None
                 ) -> Iterator[tuple[Run, pd.DataFrame | ValueError]]:
    """(run, its :func:`analyze_run` table, or the ValueError saying why it has none), run by run, in order.

    A run's stages still at the scoring workers are finished while the next run's features are
    extracted (its table comes after that). ``progress(i, fraction, message)`` for the i-th run.
    """
    pending: tuple[Run, pd.DataFrame | ValueError | _Pending] | None = None
    try:
        for i, run in enumerate(runs):
            inner = (lambda f, msg, i=i: progress(i, f, msg)) if progress else None
            try:
                begun = _begin(run, data, reduction, metrics, use_cache=use_cache, progress=inner)
            except ValueError as e:
                begun = e
            if pending is not None:
                yield pending[0], _finished(pending[1])
            pending = (run, begun)
        if pending is not None:
            yield pending[0], _finished(pending[1])
    finally:  # stopped early (the page left, an error): the stages still waiting for a worker are dropped
        if pending is not None and isinstance(pending[1], _Pending):
            pending[1].cancel()


def _finished(begun: pd.DataFrame | ValueError | _Pending) -> pd.DataFrame | ValueError:
    if not isinstance(begun, _Pending):
        return begun
    try:
        return begun.table()
    except ValueError as e:  # a metric's input error, raised where a worker scored the stage
        return e


class _Pending:
    """A run whose rows are being scored: :meth:`table` waits for them, caches them and builds its table."""

    def __init__(self, run: Run, scoring_: scoring.Scoring, keys: dict[str, dict], ship: bool, frame: Callable) -> None:
        self.run, self._scoring, self._keys, self._ship, self._frame = run, scoring_, keys, ship, frame

    def cancel(self) -> None:
        """Drop the stages no worker has begun (nothing is cached)."""
        self._scoring.cancel()

    def table(self) -> pd.DataFrame:
        rows = self._scoring.rows()
        for m, entry in _by_metric(rows, list(self._keys)).items():  # one entry a metric (see metric_key)
            cache.write_json(self._keys[m], {"rows": entry}, shipped=self._ship)
        return self._frame(rows)


def metric_key(base: dict, metric: str) -> dict:
    """The cache key of one metric's rows: the run's input key and only the settings that metric takes,
    so that a subset of metrics is served from any cached entry and a new setting of one metric leaves
    the others' entries valid."""
    return {**base, "kind": "metric", "metric": metric, "settings": SETTINGS.kwargs_for(metric)}


def _ordered(rows_by_metric: dict[str, list[dict]], metrics: list[str], stages: list[str]) -> list[dict]:
    """Rows in stage order, then in the order the metrics were asked for (how they are scored)."""
    at = {s: i for i, s in enumerate(stages)}
    rows = [r for m in metrics for r in rows_by_metric[m]]
    return sorted(rows, key=lambda r: (at.get(r["stage"], len(at)), metrics.index(r["metric"])))


def _begin(run: Run, data, reduction: str, metrics, *, use_cache: bool, progress, cached_only: bool = False,
           ship: bool = False) -> pd.DataFrame | _Pending | None:
    """:func:`analyze_run` up to the rows still at the scoring workers (a table where none are)."""
    metrics = check_metrics(metrics or DEFAULT_METRICS)
    if reduction not in REDUCTIONS:
        raise AnalysisError(f"Unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}.")
    inputs = inputs_for(run, data)
    probe = inputs.probe
    trained_on = run.record.data.classes
    if trained_on and list(trained_on) != list(probe.classes):
        raise AnalysisError(f"Run {run.id} was trained on classes {', '.join(trained_on)}; the probe set "
                            f"has {', '.join(probe.classes)}.")
    folds = SETTINGS.folds
    if int(probe.labels.bincount().min()) < folds:
        raise AnalysisError(f"The probe set has a class with fewer than {folds} images; {folds}-fold cross-validation needs at least {folds} a class.")
    base = inputs.key(reduction)
    keys = {m: metric_key(base, m) for m in metrics}
    found = {m: _rows(cache.read_json(keys[m])) if use_cache else None for m in metrics}
    missing = [m for m in metrics if found[m] is None]
    frame = functools.partial(_frame, run, reduction, probe.hash, inputs.note)
    stages = run.spec.stage_names
    if not missing:
        if ship:  # found in the user's cache: ship those entries as they are
            for m in metrics:
                cache.write_json(keys[m], {"rows": found[m]}, shipped=True)
        return frame(_ordered(found, metrics, stages))
    if cached_only:
        return None  # not analysed yet; the caller shows that rather than computing
    step = (lambda f: progress(0.3 * f, "extracting features")) if progress else None
    scoring.start()  # the workers import their libraries while the features are extracted
    feats = run_features(inputs, reduction, progress=step, ship=ship, use_cache=use_cache)
    inner = (lambda f, msg: progress(0.3 + 0.7 * f, msg)) if progress else None
    with sep.one_blas_thread():
        Z: dict[str, np.ndarray] = {}  # each stage embedded here, and scored by a worker while the next one is
        scored = scoring.share(embedding(feats, Z), probe.labels.numpy(), missing, progress=inner)
        del feats
        if reduction == "flat" or ship:  # flat features are not kept: their 2-D views come from this extraction
            cache.write_arrays({**base, "kind": "projections"}, all_projections(Z, probe.labels.numpy()), shipped=ship)
    done = {m: found[m] for m in metrics if found[m] is not None}
    return _Pending(run, scored, {m: keys[m] for m in missing}, ship,
                    lambda rows: frame(_ordered({**done, **_by_metric(rows, missing)}, metrics, stages)))


def _by_metric(rows: list[dict], metrics: list[str]) -> dict[str, list[dict]]:
    return {m: [{**r, "value": r["value"] if np.isfinite(r["value"]) else None} for r in rows if r["metric"] == m]
            for m in metrics}


def _frame(run: Run, reduction: str, probe_hash: str, note: str, rows: list[dict]) -> pd.DataFrame:
    prov = _provenance(run)
    alone = label_runs([run.record], {run.id: run.status})
    prov.update(label=alone.run[run.id], condition=alone.condition_of[run.id],
                condition_label=alone.condition[alone.condition_of[run.id]], probe_note=note)
    df = pd.DataFrame([{**prov, **r, "reduction": reduction, "probe_hash": probe_hash} for r in rows])
    df["value"] = pd.to_numeric(df["value"], errors="coerce")  # None (JSON's NaN) -> NaN
    return df[COLUMNS]


def analyze(runs: list[Run], data: Dataset | str | None = None, reduction: str = "gap", metrics: list[str] | None = None,
            *, use_cache: bool = True, progress: Callable[[float, str], None] | None = None) -> pd.DataFrame:
    """Many runs -> one table. ``data`` defaults to each run's own probe set as resolved on this machine."""
    metrics = check_metrics(metrics or DEFAULT_METRICS)
    if isinstance(data, str):
        data = load_dataset(data)
    tables = []
    inner = (lambda i, f, msg: progress((i + f) / len(runs), f"{runs[i].id}: {msg}")) if progress else None
    for run, table in analyze_each(runs, data, reduction, metrics, use_cache=use_cache, progress=inner):
        if isinstance(table, ValueError):
            raise table
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(tables, ignore_index=True)
    labels = label_runs([r.record for r in runs], {r.id: r.status for r in runs})
    df["label"] = df["run_id"].map(labels.run)
    df["condition"] = df["run_id"].map(labels.condition_of)
    df["condition_label"] = df["condition"].map(labels.condition)
    return df[COLUMNS]


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Atomic: a reader never sees a partial CSV, and a failure leaves no file behind."""
    atomic_write_bytes(Path(path), to_csv_bytes(df))


USER_ERRORS = (AnalysisError, DataError, RunError)
