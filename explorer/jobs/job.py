"""A training job as a typed record, validated on every read, and liveness that cannot be forged.

A job file is data from disk: every field is checked into its type (:meth:`Job.from_json`), and
anything else is a :class:`JobError` with one sentence. A pid is only a hint: a process is this
project's worker for a job (or study) only if it is alive, not a zombie, and its command line is
``-m explorer <command> ...`` naming that job's file (:func:`process_runs`); a forged or recycled
pid is therefore never taken for a running job, and never signalled.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import FileRefused, read_capped
from ..models import ModelSpec
from ..train import TrainConfig

ACTIVE = ("queued", "running")
JOB_STATUSES = ("queued", "running", "finished", "diverged", "cancelled", "failed")
SEED_STATUSES = ("finished", "diverged", "cancelled", "failed")
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
PID_MAX = 1 << 22  # Linux's largest possible pid (PID_MAX_LIMIT)


class JobError(ValueError):
    """A job request or job file that cannot be used; the message says why."""


@dataclass(frozen=True)
class SeedResult:
    seed: int
    run_id: str | None  # None when it failed before a run folder existed
    status: str  # finished | diverged | cancelled | failed
    reason: str = ""

    @staticmethod
    def from_json(d) -> "SeedResult":
        if not isinstance(d, dict):
            raise JobError("A seed's result must be a JSON object.")
        seed, run_id, status, reason = d.get("seed"), d.get("run_id"), d.get("status"), d.get("reason", "")
        if not (_is_int(seed) and (run_id is None or isinstance(run_id, str)) and status in SEED_STATUSES
                and isinstance(reason, str)):
            raise JobError("A seed's result must hold an integer seed, a run id or null, a status among "
                           f"{', '.join(SEED_STATUSES)} and a text reason.")
        return SeedResult(seed, run_id, status, reason[:2000])


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


MAX_TIME = 2.0 ** 33  # seconds since 1970: the year 2242; past it a clock time cannot be shown


def _time(v) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= MAX_TIME
    return float(v) if ok else None


def valid_pid(pid) -> int | None:
    """``pid`` if it is a positive int (not a bool) a process can have, else None."""
    return pid if _is_int(pid) and 0 < pid < PID_MAX else None


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
    resume: str = ""  # the id of a cancelled or interrupted run this job continues ("" for a new run a seed)
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
    def from_json(d) -> "Job":
        """The job a job file holds, every field checked; a JobError (one sentence) otherwise.

        A pid that no process can have is dropped (the job is then not running: stale)."""
        if not isinstance(d, dict):
            raise JobError("A job file must hold a JSON object.")
        jid, seeds, status = d.get("id"), d.get("seeds"), d.get("status", "queued")
        if not (isinstance(jid, str) and JOB_ID.fullmatch(jid)):
            raise JobError("A job file must name its job: an \"id\" of letters, digits, '-', '_' and '.'.")
        if not (isinstance(seeds, list) and 0 < len(seeds) <= 1000 and all(_is_int(s) for s in seeds)):
            raise JobError(f"Job {jid}: \"seeds\" must be a list of 1 to 1000 integers.")
        for name in ("data", "root"):
            if not isinstance(d.get(name), str) or not d[name] or "\0" in d[name] or len(d[name]) > 4096:
                raise JobError(f"Job {jid}: \"{name}\" must be a non-empty text (a path: no NUL, 4096 characters "
                               "at most).")
        for name in ("owner", "message", "resume"):
            if not isinstance(d.get(name, ""), str):
                raise JobError(f"Job {jid}: \"{name}\" must be a text.")
        for name in ("download", "cancel_requested"):
            if not isinstance(d.get(name, False), bool):
                raise JobError(f"Job {jid}: \"{name}\" must be true or false.")
        if status not in JOB_STATUSES:
            raise JobError(f"Job {jid}: unknown status {str(status)[:40]!r}; expected one of {', '.join(JOB_STATUSES)}.")
        results = d.get("results") or []
        if not isinstance(results, list) or len(results) > len(seeds):
            raise JobError(f"Job {jid}: \"results\" must be a list of at most one result a seed.")
        try:
            spec, train = ModelSpec.from_dict(d.get("spec")), TrainConfig.from_dict(d.get("train"))
        except (TypeError, ValueError) as e:
            raise JobError(f"Job {jid}: {str(e)[:300]}") from None
        return Job(jid, spec, train, list(seeds), d["data"], d["root"], d.get("owner", ""), d.get("download", False),
                   status, valid_pid(d.get("pid")), _time(d.get("created")) or 0.0, _time(d.get("started")),
                   _time(d.get("ended")), d.get("cancel_requested", False), d.get("message", "")[:2000],
                   [SeedResult.from_json(r) for r in results], _resume_id(jid, d.get("resume", "")))


def _resume_id(jid: str, run_id: str) -> str:
    if run_id and not JOB_ID.fullmatch(run_id):  # a run id is a folder name of the store: never a path
        raise JobError(f"Job {jid}: \"resume\" must name a run of the store (letters, digits, '-', '_', '.').")
    return run_id


PROGRESS_NUMBERS = ("step", "steps", "epoch", "epochs", "loss", "test_acc", "eta_s", "fraction", "time")


def progress_event(raw) -> dict | None:
    """A progress file's event with only its well-typed fields (finite numbers, short texts); None if unusable."""
    if not isinstance(raw, dict):
        return None
    out = {k: float(v) if isinstance(v, float) else v for k, v in raw.items()
           if k in PROGRESS_NUMBERS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    out = {k: v for k, v in out.items() if k in ("loss", "test_acc") or 0 <= v <= MAX_TIME}  # counts, times: >= 0
    if "fraction" in out:
        out["fraction"] = min(1.0, float(out["fraction"]))
    out.update({k: v[:200] for k, v in raw.items() if k in ("label", "what", "run") and isinstance(v, str)})
    if "steps" in out and not (all(k in out for k in ("step", "epoch", "epochs", "loss")) and out["steps"] > 0):
        out.pop("steps")  # an incomplete training event: shown as "loading"
    return out


def process_runs(pid, *args: str) -> bool:
    """Whether ``pid`` is a live process (not a zombie) whose command line holds ``args`` in a row
    (e.g. ``-m explorer worker <job file>``): a pid read from a file is never trusted alone."""
    pid = valid_pid(pid)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: its command line still says what it is
    except (OSError, OverflowError):
        return False
    try:
        stat = read_capped(f"/proc/{pid}/stat", 64 * 1024, within="/proc", what="process status")
        cmdline = read_capped(f"/proc/{pid}/cmdline", 256 * 1024, within="/proc", what="command line")
    except FileRefused:
        return False  # ended meanwhile, or no /proc: never taken for alive on a pid alone
    if stat.rsplit(b") ", 1)[-1][:1] == b"Z":  # a zombie (finished child not yet reaped) counts as finished
        return False
    argv, want = [a.decode("utf-8", "replace") for a in cmdline.split(b"\0")], list(args)
    return any(argv[i:i + len(want)] == want for i in range(len(argv) - len(want) + 1))
