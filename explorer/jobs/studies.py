"""Mechanism studies run in the background: one `python -m explorer mechanisms` process a study.

The app starts a process per run and study (its settings in the command line), which writes its
progress to a JSON file and its result into the analysis cache; the page polls the progress
files and shows the cached result when it is there. A study already running is not started
twice; a process that ended without a result leaves its log's last line as the reason.

Studies share one set of limits (explorer.settings): at most ``max_studies()`` run at once, and in
deploy mode at most ``max_studies_session()`` of one session; one over a limit waits ("waiting")
and is started by a later :func:`status` when a place is free. A new Compute of the same run and
study with other settings replaces the old one (in deploy mode only a session's own). A study is
running only while its pid is this project's ``-m explorer mechanisms ... --progress-file <its
file>`` process (explorer.jobs.job.process_runs): a forged pid is stale, and never signalled.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import settings
from ..atomic import FileRefused, atomic_write_json, open_output, read_json_capped, tail_capped
from .job import JobError, process_runs, valid_pid
from .queue import folder_lock
from ..studies.catalog import get
from ..runs import Run
from ..settings import REPO_ROOT, cache_dir

LAUNCH_GRACE_S = 60  # a study that has not written its pid this long after its launch did not start
PROGRESS_CAP = 64 * 1024  # a progress file is ~100 bytes
LOG_TAIL = 16 * 1024  # the end of a log read for its last line


@dataclass(frozen=True)
class StudyStatus:
    running: bool  # running, starting, or waiting for a place
    fraction: float  # 0..1
    what: str  # the view being computed, "waiting", or "done"
    error: str  # the log's last line when the process ended without a result; "" otherwise


@dataclass(frozen=True)
class _Progress:
    """A progress file, every field checked: anything of the wrong type reads as absent."""
    fraction: float
    what: str
    pid: int | None
    started: float
    owner: str

    @property
    def waiting(self) -> bool:
        return self.what == "waiting"


def _folder() -> Path:
    return cache_dir() / "studies"


def _files(run: Run, kind: str, settings) -> tuple[Path, Path]:
    """The progress and log files of a study: one per run, its weights (a retrained run is another), kind and settings."""
    w = run.weights_file()
    try:
        stamp = (w.stat().st_mtime_ns, w.stat().st_size) if w is not None else None
    except OSError:
        stamp = None
    tag = hashlib.sha256(json.dumps([asdict(settings), stamp], sort_keys=True).encode()).hexdigest()[:10]
    base = _folder() / f"{run.id}-{kind}-{tag}"
    return base.with_suffix(".json"), base.with_suffix(".log")


def _read(progress: Path) -> _Progress | None:
    try:
        p = read_json_capped(progress, PROGRESS_CAP, what="study progress file")
    except FileRefused:
        return None

    def num(v, lo=-math.inf, hi=math.inf) -> float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
        return float(v) if ok else 0.0
    what, owner, pid = p.get("what"), p.get("owner"), valid_pid(p.get("pid"))
    if pid is None and what == "starting":  # before the child's first write: the pid its launcher recorded
        try:
            pid = valid_pid(read_json_capped(progress.with_suffix(".pid"), PROGRESS_CAP, what="study pid file").get("pid"))
        except FileRefused:
            pid = None
    return _Progress(num(p.get("fraction"), 0.0, 1.0), what[:200] if isinstance(what, str) else "", pid,
                     num(p.get("started"), 0.0, time.time() + 5), owner if isinstance(owner, str) else "")


def _alive(progress: Path, p: _Progress) -> bool:
    """Running: its own process (verified by its command line), or launched less than LAUNCH_GRACE_S ago."""
    if p.pid is not None:
        return process_runs(p.pid, "-m", "explorer", "mechanisms") and process_runs(p.pid, "--progress-file", str(progress))
    return p.what == "starting" and time.time() - p.started < LAUNCH_GRACE_S


def status(run: Run, kind: str, settings) -> StudyStatus | None:
    """Where a background study of ``run`` stands; None when none was started. A waiting study is started here
    when a place is free."""
    progress, log = _files(run, kind, settings)
    p = _read(progress)
    if p is None:
        return None
    if p.waiting:
        with folder_lock(_folder()):
            p = _read(progress) or p
            if p.waiting and _has_place(p.owner):
                _launch(run, kind, settings, p.owner)
        return StudyStatus(True, 0.0, "waiting" if p.waiting else "starting", "")
    running, done = _alive(progress, p), p.what == "done"
    error = ""
    if p.what in ("cancelled", "replaced"):
        running, error = False, f"the study was {p.what}."
    elif not running and not done:
        try:
            lines = [ln for ln in tail_capped(log, LOG_TAIL, what="study log").decode("utf-8", "replace").splitlines()
                     if ln.strip()]
            error = lines[-1][:300] if lines else "the study stopped without a message."
        except FileRefused:
            error = "the study stopped without a message."
    return StudyStatus(running, p.fraction, p.what, error)


def _active() -> list[_Progress]:
    """The studies running or starting now (waiting ones not counted)."""
    out = []
    for f in sorted(_folder().glob("*.json")):  # progress files (pid files end in .pid)
        p = _read(f)
        if p is not None and not p.waiting and _alive(f, p):
            out.append(p)
    return out


def _has_place(owner: str) -> bool:
    active = _active()
    mine = sum(p.owner == owner for p in active)
    return len(active) < settings.max_studies() and not (settings.deploy_mode() and mine >= settings.max_studies_session())


def start(run: Run, kind: str, settings, *, owner: str = "") -> None:
    """Start the study of ``run`` in the background, unless it is already running; over a limit it waits.

    ``owner``: the app session that asks (deploy mode: its limit, and only its own studies are replaced)."""
    progress, _ = _files(run, kind, settings)
    _folder().mkdir(parents=True, exist_ok=True)
    with folder_lock(_folder()):
        p = _read(progress)
        if p is not None and (p.waiting or _alive(progress, p)):
            return
        for f in sorted(_folder().glob(f"{run.id}-{kind}-*.json")):  # the same study at other settings: replaced
            if f != progress and f.name[len(run.id) + len(kind) + 2:-5].isalnum():
                _stop(f, owner, "replaced", quiet=True)
        if not _has_place(owner):
            atomic_write_json(progress, {"fraction": 0.0, "what": "waiting", "pid": None, "started": time.time(),
                                         "owner": owner})
            return
        _launch(run, kind, settings, owner)


def _launch(run: Run, kind: str, settings, owner: str) -> None:
    progress, log = _files(run, kind, settings)
    cmd = [sys.executable, "-m", "explorer", "mechanisms", run.id, "--root", str(run.path.parent), "--kind", kind,
           *get(kind).flags(settings), "--progress-file", str(progress)]
    # written before the launch, so that it never overwrites what the child has already written; the child's
    # pid goes beside it, so that a study can be checked and stopped before its first progress write
    with open_output(log) as out:  # written, never read here: the log is read through the door (tail_capped)
        progress.with_suffix(".pid").unlink(missing_ok=True)
        atomic_write_json(progress, {"fraction": 0.0, "what": "starting", "pid": None, "started": time.time(),
                                     "owner": owner})
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, "EXPLORER_OWNER": owner})
    atomic_write_json(progress.with_suffix(".pid"), {"pid": proc.pid})


def _stop(progress: Path, owner: str, why: str, quiet: bool = False) -> bool:
    """Stop the study of ``progress`` (its verified process only) and mark it ``why``; False if not running."""
    p = _read(progress)
    if p is None or not (p.waiting or _alive(progress, p)):
        return False
    if settings.deploy_mode() and p.owner != owner:
        if quiet:
            return False
        raise JobError("This study was started by another session; only that session can cancel it.")
    if p.pid is not None and _alive(progress, p):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    atomic_write_json(progress, {"fraction": p.fraction, "what": why, "pid": None, "started": p.started, "owner": p.owner})
    return True


def cancel(run: Run, kind: str, settings, *, owner: str = "") -> bool:
    """Cancel a background study (in deploy mode only the session's own); False when none was running."""
    progress, _ = _files(run, kind, settings)
    with folder_lock(_folder()):
        return _stop(progress, owner, "cancelled")
