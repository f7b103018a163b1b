"""Background training jobs for the app: a job file in, a worker process, a result file out.

    <runs root>/.jobs/<id>.json           the job: the whole typed request (model spec, training
                                          config, seeds, data source, owner, absolute run root) and
                                          its state (queued / running / finished / failed / ...)
    <runs root>/.jobs/<id>.progress.json  the latest progress event (written by the worker)
    <runs root>/.jobs/<id>.result.json    per seed: run id, status, reason (written by the worker)
    <runs root>/.jobs/<id>.log            the worker's stdout and stderr, for debugging only

The worker is ``python -m explorer worker <job file>`` in its own process session, so it
survives page reloads. Submitting and scheduling hold an exclusive lock on ``.jobs/lock``, so
two sessions (or processes) never both pass a queue limit, and a job is started by exactly
one process.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..atomic import FileRefused, atomic_write_json, open_output
from .job import ACTIVE, Job, JobError, SeedResult, process_runs, progress_event
from ..runs.files import RunError, read_json
from ..models import ModelSpec
from ..settings import REPO_ROOT, jobs_dir
from ..train import TrainConfig, resolve_device

__all__ = ["ACTIVE", "Job", "JobError", "SeedResult", "cancel", "folder_lock", "job_file", "list_jobs", "queue_lock",
           "resume", "submit", "tick", "worker_alive"]


def _dir(root: Path) -> Path:
    return jobs_dir(Path(root).resolve())


@contextmanager
def queue_lock(root: Path):
    """An exclusive lock on the job queue of ``root`` (blocks other sessions and processes)."""
    with folder_lock(_dir(root)):
        yield


@contextmanager
def folder_lock(d: Path):
    """An exclusive lock on ``d/lock`` (blocks other sessions and processes)."""
    d.mkdir(parents=True, exist_ok=True)
    with open_output(d / "lock", append=True) as f:  # written to, never read: outside the reading door
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def job_file(root: Path, job_id: str) -> Path:
    return _dir(root) / f"{job_id}.json"


def _save(job: Job) -> None:
    atomic_write_json(job_file(Path(job.root), job.id), job.to_json())


def _read_json(p: Path) -> dict | None:
    """A job file's object through the run store's bounded reader (regular files only, 1 MB at most); else None."""
    try:
        return read_json(p, cap=1024 * 1024)
    except RunError:
        return None


def list_jobs(root: Path) -> list[Job]:
    d = _dir(root)
    out = []
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        if p.name.endswith((".progress.json", ".result.json")):
            continue
        try:
            job = Job.from_json(_read_json(p))
        except JobError:
            continue  # not a job file (of this version): never a traceback on every page
        try:
            theirs = Path(job.root).resolve() == Path(root).resolve()
        except (OSError, ValueError, RuntimeError):  # a path no folder can have (a loop of links, ...)
            theirs = False
        if not theirs or job.id != p.stem:
            continue  # a job file that names another queue is not this queue's
        job.progress = progress_event(_read_json(d / f"{job.id}.progress.json"))
        out.append(job)
    return out


def submit(root: Path, spec: ModelSpec, cfg: TrainConfig, seeds: list[int], data: str, *, owner: str = "",
           download: bool = False, max_active: int | None = None) -> Job:
    """Queue a training job; with ``max_active`` the queue limit is checked under the queue lock."""
    cfg.validate()
    resolve_device(cfg.device)
    for s in seeds:
        dataclasses.replace(cfg, seed=s).validate()
    root = Path(root).resolve()
    with queue_lock(root):
        active = [j for j in list_jobs(root) if j.status in ACTIVE]
        if max_active is not None and len(active) >= max_active:
            raise JobError(f"The training queue is full ({len(active)} jobs); wait for one to finish.")
        jid = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        job = Job(jid, spec, dataclasses.replace(cfg, seed=seeds[0]), list(seeds), data, str(root), owner, download)
        _save(job)
    return job


def resume(root: Path, run_id: str, *, owner: str = "") -> Job:
    """Queue the continuation of a cancelled or interrupted run of ``root`` (its own settings, from its last epoch)."""
    from ..runs import open_run

    root = Path(root).resolve()
    run = open_run(root, run_id)
    rec = run.record
    if rec.train is None or run.status not in ("cancelled", "interrupted"):
        raise JobError(f"Run {run_id} is {run.status}: only a cancelled or interrupted run can be resumed.")
    with queue_lock(root):
        if any(j.resume == run.id and j.status in ACTIVE for j in list_jobs(root)):
            raise JobError(f"Run {run_id} is already being resumed.")
        jid = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        job = Job(jid, rec.model, rec.train, [rec.seed if rec.seed is not None else 0], rec.data.source or "digits",
                  str(root), owner, resume=run.id)
        _save(job)
    return job


def _command(job: Job) -> list[str]:
    """The worker's command: ``explorer worker <job file>``, or for a resumed run ``explorer train --resume``
    writing its progress beside the job file (which is how its liveness is checked)."""
    jf = job_file(Path(job.root), job.id)
    if job.resume:
        return [sys.executable, "-m", "explorer", "train", "--resume", job.resume, "--root", job.root, "--no-progress",
                "--progress-file", str(jf.with_suffix(".progress.json"))]
    return [sys.executable, "-m", "explorer", "worker", str(jf)]


def worker_alive(job: Job) -> bool:
    """Whether job.pid is this job's worker, alive: its command line (:func:`_command`) names this job's file."""
    cmd = _command(job)
    return process_runs(job.pid, *cmd[1:4]) and process_runs(job.pid, *cmd[-2:])


def _start(job: Job) -> None:
    d = _dir(Path(job.root))
    try:  # a FIFO, folder or link planted as the log is refused, never blocked on or followed
        log = open_output(d / f"{job.id}.log", append=True)  # written, never read here
    except FileRefused as e:
        job.status, job.ended, job.message = "failed", time.time(), str(e)
        _save(job)
        return
    cmd = _command(job)
    env = {**os.environ, "EXPLORER_OWNER": job.owner}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    log.close()
    job.status, job.pid, job.started = "running", proc.pid, time.time()
    _save(job)


def _conclude(job: Job) -> None:
    """A running job whose worker has exited: its state from the result file (a resumed run: from its record)."""
    raw = _read_json(_dir(Path(job.root)) / f"{job.id}.result.json") or {}
    if job.resume:
        from ..runs import open_run
        try:
            rec = open_run(Path(job.root), job.resume).record
            raw = {"results": [{"seed": job.seeds[0], "run_id": job.resume, "reason": rec.reason or "",
                                "status": rec.status if rec.status in ("finished", "diverged", "cancelled") else "failed"}]}
        except (RunError, ValueError) as e:
            raw = {"error": f"the resumed run cannot be read: {str(e)[:300]}"}
    try:
        results = raw.get("results") or []
        job.results = [SeedResult.from_json(r) for r in results[:len(job.seeds)]] if isinstance(results, list) else []
    except JobError:
        job.results = []
    if not isinstance(raw.get("error"), str):
        raw["error"] = ""
    statuses = [r.status for r in job.results]
    if job.cancel_requested or "cancelled" in statuses:
        job.status = "cancelled"
    elif len(statuses) < len(job.seeds) or "failed" in statuses:
        job.status = "failed"
        reasons = [f"seed {r.seed}: {r.reason}" for r in job.results if r.status == "failed" and r.reason]
        job.message = "; ".join(reasons) or raw.get("error") or "the training process ended before reporting a result."
    elif "diverged" in statuses:
        job.status = "diverged"
        job.message = "; ".join(f"seed {r.seed}: {r.reason}" for r in job.results if r.status == "diverged")
    else:
        job.status = "finished"
    job.ended = time.time()
    _save(job)


def tick(root: Path, max_running: int = 1) -> list[Job]:
    """Conclude jobs whose worker exited, start queued ones up to ``max_running``; returns the jobs."""
    with queue_lock(root):
        jobs = list_jobs(root)
        for job in jobs:
            if job.status == "running" and not worker_alive(job):
                _conclude(job)
        running = sum(j.status == "running" for j in jobs)
        for job in jobs:
            if job.status == "queued" and running < max_running:
                _start(job)
                running += job.status == "running"
    return jobs


def cancel(root: Path, job_id: str) -> None:
    with queue_lock(root):
        for job in list_jobs(root):
            if job.id != job_id:
                continue
            if job.status == "queued":
                job.status, job.ended = "cancelled", time.time()
            elif job.status == "running":
                job.cancel_requested = True
                if worker_alive(job):
                    try:
                        os.killpg(job.pid, signal.SIGTERM)  # the trainer stops after the current step
                    except (ProcessLookupError, PermissionError, TypeError):
                        pass
            _save(job)
