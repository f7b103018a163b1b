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
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_write_json
from ..runs.files import RunError, read_json
from ..models import ModelSpec
from ..settings import REPO_ROOT, jobs_dir
from ..train import TrainConfig, resolve_device

ACTIVE = ("queued", "running")


class JobError(ValueError):
    """A job request that cannot be queued; the message says why."""


@dataclass(frozen=True)
class SeedResult:
    seed: int
    run_id: str | None  # None when it failed before a run folder existed
    status: str  # finished | diverged | cancelled | failed
    reason: str = ""


@dataclass
class Job:
    id: str
    spec: ModelSpec
    train: TrainConfig  # the seed in it is the first; ``seeds`` lists them all
    seeds: list[int]
    data: str  # digits | cifar10 | a folder / zip path
    root: str  # absolute run root the worker writes into
    owner: str = ""
    download: bool = False  # cifar10: download if missing
    status: str = "queued"  # queued | running | finished | diverged | cancelled | failed
    pid: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    cancel_requested: bool = False
    message: str = ""
    results: list[SeedResult] = field(default_factory=list)
    progress: dict | None = None  # the latest progress event (not saved in the job file)

    @property
    def label(self) -> str:
        return f"{self.spec.label}, {len(self.seeds)} seed(s), {self.train.epochs} epochs, {self.data_name}"

    @property
    def data_name(self) -> str:
        return self.data if self.data in ("digits", "cifar10") else Path(self.data).name

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("progress",)}
        d.update(spec=self.spec.to_dict(), train=self.train.to_dict(), results=[dataclasses.asdict(r) for r in self.results])
        return d

    @staticmethod
    def from_json(d: dict) -> "Job":
        d = dict(d)
        d["spec"] = ModelSpec.from_dict(d["spec"])
        d["train"] = TrainConfig.from_dict(d["train"])
        d["results"] = [SeedResult(**r) for r in d.get("results") or []]
        known = {f.name for f in dataclasses.fields(Job)}
        return Job(**{k: v for k, v in d.items() if k in known})


def _dir(root: Path) -> Path:
    return jobs_dir(Path(root).resolve())


@contextmanager
def queue_lock(root: Path):
    """An exclusive lock on the job queue of ``root`` (blocks other sessions and processes)."""
    d = _dir(root)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "lock", "a+") as f:
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
        raw = _read_json(p)
        try:
            job = Job.from_json(raw)
        except (TypeError, ValueError, KeyError, AttributeError):
            continue  # not a job file of this version
        if not isinstance(job.root, str) or Path(job.root).resolve() != Path(root).resolve() or job.id != p.stem:
            continue  # a job file that names another queue is not this queue's
        job.progress = _read_json(d / f"{job.id}.progress.json")
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


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished child not yet reaped) counts as finished
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _start(job: Job) -> None:
    d = _dir(Path(job.root))
    log = open(d / f"{job.id}.log", "ab")
    cmd = [sys.executable, "-m", "explorer", "worker", str(job_file(Path(job.root), job.id))]
    env = {**os.environ, "EXPLORER_OWNER": job.owner}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    log.close()
    job.status, job.pid, job.started = "running", proc.pid, time.time()
    _save(job)


def _conclude(job: Job) -> None:
    """A running job whose worker has exited: its state from the result file."""
    raw = _read_json(_dir(Path(job.root)) / f"{job.id}.result.json") or {}
    try:
        job.results = [SeedResult(**r) for r in raw.get("results", [])]
    except TypeError:
        job.results = []
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
            if job.status == "running" and not pid_alive(job.pid):
                _conclude(job)
        running = sum(j.status == "running" for j in jobs)
        for job in jobs:
            if job.status == "queued" and running < max_running:
                _start(job)
                running += 1
    return jobs


def _is_our_worker(job: Job) -> bool:
    """Whether job.pid is this job's worker (its command line names the job file), so a forged pid is never signalled."""
    try:
        with open(f"/proc/{int(job.pid)}/cmdline", "rb") as f:
            args = f.read(64 * 1024).split(b"\0")
    except (OSError, TypeError, ValueError):
        return False
    return b"worker" in args and str(job_file(Path(job.root), job.id)).encode() in args


def cancel(root: Path, job_id: str) -> None:
    with queue_lock(root):
        for job in list_jobs(root):
            if job.id != job_id:
                continue
            if job.status == "queued":
                job.status, job.ended = "cancelled", time.time()
            elif job.status == "running":
                job.cancel_requested = True
                if _is_our_worker(job):
                    try:
                        os.killpg(job.pid, signal.SIGTERM)  # the trainer stops after the current step
                    except (ProcessLookupError, PermissionError, TypeError):
                        pass
            _save(job)
