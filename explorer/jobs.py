"""Background training jobs for the app: a queue on disk, one CLI process a job.

A job is a JSON file under ``<root>/.jobs/``; its training runs as
``python -m explorer train ... --progress-file <job>.progress.json`` in its own process
session, so it survives page reloads and page changes. `tick()` starts queued jobs while
fewer than ``max_running`` are running (1 by default on CPU), and notices finished ones.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from .atomic import atomic_write_json

ROOT_DIR = Path(__file__).resolve().parents[1]


def jobs_dir(root: Path) -> Path:
    return Path(root) / ".jobs"


def _pid_alive(pid: int | None) -> bool:
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


def submit(root: Path, args: list[str], label: str, owner: str = "") -> dict:
    """Queue a training job; ``args`` are `explorer train` arguments (without --root)."""
    d = jobs_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    jid = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    job = {"id": jid, "label": label, "args": list(map(str, args)), "status": "queued", "pid": None,
           "created": time.time(), "owner": owner, "root": str(root)}
    atomic_write_json(d / f"{jid}.json", job)
    return job


def list_jobs(root: Path) -> list[dict]:
    d = jobs_dir(root)
    out = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            if p.name.endswith(".progress.json"):
                continue
            try:
                job = json.loads(p.read_text())
            except (ValueError, OSError):
                continue
            prog = d / f"{job['id']}.progress.json"
            try:
                job["progress"] = json.loads(prog.read_text()) if prog.exists() else None
            except (ValueError, OSError):
                job["progress"] = None
            out.append(job)
    return out


def _save(root: Path, job: dict) -> None:
    atomic_write_json(jobs_dir(root) / f"{job['id']}.json", {k: v for k, v in job.items() if k != "progress"})


def _start(root: Path, job: dict) -> None:
    d = jobs_dir(root)
    log = open(d / f"{job['id']}.log", "ab")
    cmd = [sys.executable, "-m", "explorer", "train", *job["args"], "--root", str(root), "--no-progress",
           "--progress-file", str(d / f"{job['id']}.progress.json")]
    env = {**os.environ, "EXPLORER_OWNER": job.get("owner", "")}
    proc = subprocess.Popen(cmd, cwd=ROOT_DIR, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    job.update(status="running", pid=proc.pid, started=time.time())
    _save(root, job)


def _log_tail(root: Path, job: dict, lines: int = 3) -> str:
    p = jobs_dir(root) / f"{job['id']}.log"
    try:
        text = p.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " ".join(text[-lines:])[-400:]


def tick(root: Path, max_running: int = 1) -> list[dict]:
    """Update finished jobs, start queued ones up to ``max_running``; returns the jobs."""
    jobs = list_jobs(root)
    for job in jobs:
        if job["status"] == "running" and not _pid_alive(job.get("pid")):
            tail = _log_tail(root, job)
            prog = job.get("progress") or {}
            if job.get("cancel_requested"):
                job["status"] = "cancelled"
            elif "error:" in tail:
                job["status"], job["message"] = "failed", tail[tail.rfind("error:"):]
            elif prog.get("done"):
                job["status"] = prog.get("status", "finished")
            else:
                job["status"], job["message"] = "failed", tail or "the training process ended unexpectedly"
            job["ended"] = time.time()
            _save(root, job)
    running = sum(j["status"] == "running" for j in jobs)
    for job in jobs:
        if job["status"] == "queued" and running < max_running:
            _start(root, job)
            running += 1
    return jobs


def cancel(root: Path, job_id: str) -> None:
    for job in list_jobs(root):
        if job["id"] != job_id:
            continue
        if job["status"] == "queued":
            job["status"] = "cancelled"
        elif job["status"] == "running":
            job["cancel_requested"] = True
            try:
                os.kill(job["pid"], signal.SIGTERM)  # the trainer stops after the current step
            except ProcessLookupError:
                pass
        _save(root, job)
