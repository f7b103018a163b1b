"""Scoring a run's stages: the chosen metrics of each stage's embedded features, on the CPU's other core.

The metrics of one stage run on one thread (BLAS limited to one: see separability.one_blas_thread),
so where the machine has a core to spare a worker process scores each stage while the caller embeds
the next one (its Gram matrix and eigendecomposition, then on one thread too, so that the two never
fight over a core), and once every stage is embedded the caller scores the stages not yet sent
while the workers finish theirs (gap stages embed in no time, so there the caller and a worker
share the scoring from the start). Threads would not do: most of the metrics' small steps hold
the interpreter lock. A worker gets a stage's embedded features (n x r float64, about 2 MB for n = 500) and sends
back its rows; it runs the same code on the same input with the same one-thread BLAS as the caller
would, so the rows are bit-identical to scoring in-process (tested).

The workers are loky processes (joblib's, a scikit-learn dependency): started by exec, never a fork
of a process whose torch threads are running, and never re-running the caller's main script. They
start on first use (each imports the metrics' libraries in about a second, while the caller
extracts features), stay while idle, and leave when their parent process ends, however it ends.
Without them (one core, ``EXPLORER_WORKERS=0``, a pool that cannot start, a worker that died) the
stages are scored in the calling process, with the same rows.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable

import numpy as np

from .. import separability as sep
from ..settings import scoring_workers

SETTINGS = sep.DEFAULT_SETTINGS  # the metric parameters, part of every analysis cache key
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # a worker computes on one thread

try:  # a future whose pool went away: its worker died (TerminatedWorkerError), or the pool was shut down
    from joblib.externals.loky.process_executor import ShutdownExecutorError
    _POOL_GONE: tuple[type[BaseException], ...] = (BrokenProcessPool, ShutdownExecutorError)
except ImportError:  # no joblib: no pool either
    _POOL_GONE = (BrokenProcessPool,)

_POOL = None  # the process-wide pool, started on first use
_POOL_LOCK = threading.Lock()
_POOL_FAILED = False  # a pool that could not start is not tried again in this process


def metric_kwargs(name: str) -> dict:
    """Pass each metric only the settings it takes."""
    return SETTINGS.kwargs_for(name)


def score_stage(stage: str, Z: np.ndarray, dims: int, y: np.ndarray, metrics: list[str]) -> list[dict]:
    """Rows (stage, dims, n, metric, value, note) of one stage's embedded features ``Z``; ``dims``: its own width."""
    rows = []
    with sep.one_blas_thread():
        for m in metrics:
            value, note = sep.score(m, Z, y, **metric_kwargs(m))
            rows.append({"stage": stage, "dims": int(dims), "n": int(Z.shape[0]), "metric": m,
                         "value": float(value), "note": note or ""})
    return rows


def _score_in_worker(stage: str, Z: np.ndarray, dims: int, y: np.ndarray, metrics: list[str]) -> list[dict]:
    """:func:`score_stage`, as a worker runs it (the caller's own scoring goes through ``score_stage``)."""
    return score_stage(stage, Z, dims, y, metrics)


def _watch_parent(parent: int) -> None:
    """In a worker: leave as soon as the process that started the pool is gone (killed, crashed)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)
    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def _ready() -> bool:
    return True  # unpickling this function imports this module, and with it every metric's libraries


def _pool():
    global _POOL, _POOL_FAILED
    workers = scoring_workers()
    if workers == 0 or _POOL_FAILED:
        return None
    with _POOL_LOCK:
        if _POOL is None:
            try:
                from joblib.externals.loky import ProcessPoolExecutor
                _POOL = ProcessPoolExecutor(workers, timeout=None, env=dict.fromkeys(_THREAD_VARS, "1"),
                                            initializer=_watch_parent, initargs=(os.getpid(),))
                for _ in range(workers):  # each worker imports the metrics now, while the caller extracts features
                    _POOL.submit(_ready)
            except (ImportError, OSError, ValueError, RuntimeError):
                _POOL, _POOL_FAILED = None, True
        return _POOL


def start() -> None:
    """Start the workers now, if there are any (an analysis starts them anyway)."""
    _pool()


def active() -> bool:
    """Whether stages are scored by workers (started if need be), i.e. the caller should embed on one thread."""
    return _pool() is not None


def stop() -> None:
    """Stop the workers (the next scoring starts new ones)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=True, kill_workers=True)


def _discard(pool) -> None:
    """Drop a pool whose worker died; the next scoring starts a new one."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is pool:
            _POOL = None
    try:
        pool.shutdown(wait=False, kill_workers=True)
    except (OSError, RuntimeError):
        pass


def score_stages(stages: Iterable[tuple[str, np.ndarray, int]], y: np.ndarray, metrics: list[str],
                 progress: Callable[[float, str], None] | None = None) -> list[dict]:
    """Rows of every (stage, embedded features, own width) that ``stages`` yields, in stage order (see :func:`share`)."""
    return share(stages, y, metrics, progress).rows()


class Scoring:
    """The stages of one :func:`share`: some scored already, the rest at the workers. :meth:`rows` waits for them."""

    def __init__(self, jobs: list[tuple[str, np.ndarray, int]], rows: dict[int, list[dict]], sent: dict[int, Future],
                 pool, y: np.ndarray, metrics: list[str], progress: Callable[[float, str], None] | None) -> None:
        self._jobs, self._rows, self._sent, self._pool = jobs, rows, sent, pool
        self._y, self._metrics, self._progress = y, metrics, progress

    def report(self, i: int) -> None:
        if self._progress is not None:
            self._progress(len(self._rows) / len(self._jobs), f"{self._jobs[i][0]}: scored")

    def cancel(self) -> None:
        """Cancel the stages sent to the workers and not begun; their rows are never asked for."""
        for fut in self._sent.values():
            fut.cancel()

    def rows(self) -> list[dict]:
        """Every stage's rows, in stage order; a stage whose worker died is scored here (the same rows)."""
        for i, fut in sorted(self._sent.items()):
            if i not in self._rows:
                self._rows[i] = _rows_or_here(fut, self._pool, *self._jobs[i], self._y, self._metrics)
                self.report(i)
        return [r for i in range(len(self._jobs)) for r in self._rows[i]]


def share(stages: Iterable[tuple[str, np.ndarray, int]], y: np.ndarray, metrics: list[str],
          progress: Callable[[float, str], None] | None = None) -> Scoring:
    """Score every (stage, embedded features, own width) that ``stages`` yields, the caller and the workers together.

    ``stages`` may be a generator that embeds each stage when asked for it. While the caller embeds,
    each stage goes to a worker as soon as it is there (one waiting behind the one a worker scores,
    so that no worker idles); once every stage is embedded the caller scores the stages not yet
    sent, from the back, while the workers take the rest from the front, and returns: the workers'
    stages may still be scored while the caller goes on (the next run's forward pass), until
    :meth:`Scoring.rows`. Who scores a stage does not change its rows. ``progress(fraction,
    message)`` is called as the stages' rows come in.
    """
    pool = _pool()
    workers = scoring_workers() if pool is not None else 0
    jobs: list[tuple[str, np.ndarray, int]] = []
    sent: dict[int, Future] = {}
    rows: dict[int, list[dict]] = {}
    waiting: list[int] = []  # embedded, neither sent nor scored
    scored = Scoring(jobs, rows, sent, pool, y, metrics, progress)  # the pool of every future, even if it breaks

    def send(room: int) -> None:
        """Send the first waiting stages to the workers while fewer than ``room`` of theirs are unfinished."""
        nonlocal pool
        while pool is not None and waiting and sum(not f.done() for f in sent.values()) < room:
            i = waiting[0]
            try:
                sent[i] = pool.submit(_score_in_worker, *jobs[i], y, metrics)
            except (BrokenProcessPool, RuntimeError):  # a dead worker, or a pool shut down meanwhile
                _discard(pool)
                pool = None
                return
            waiting.pop(0)

    for stage, Z, dims in stages:
        jobs.append((stage, Z, dims))
        waiting.append(len(jobs) - 1)
        send(workers + 1)
    while waiting:  # every stage embedded: the caller scores too
        send(workers)
        if waiting:
            i = waiting.pop() if pool is not None else waiting.pop(0)  # sharing: from the back
            rows[i] = score_stage(*jobs[i], y, metrics)
            scored.report(i)
    return scored


def _rows_or_here(fut: Future, pool, stage: str, Z: np.ndarray, dims: int, y: np.ndarray, metrics: list[str]) -> list[dict]:
    """A worker's rows; a stage whose worker died is scored here instead (the same rows), and its pool dropped."""
    try:
        return fut.result()
    except _POOL_GONE:
        _discard(pool)
        return score_stage(stage, Z, dims, y, metrics)
