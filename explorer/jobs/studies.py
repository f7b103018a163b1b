"""Mechanism studies run in the background: one `python -m explorer mechanisms` process a study.

The app starts a process per run and study (its settings in the command line), which writes its
progress to a JSON file and its result into the analysis cache; the page polls the progress
files and shows the cached result when it is there. A study already running is not started
twice; a process that ended without a result leaves its log's last line as the reason.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..atomic import atomic_write_json
from .queue import pid_alive
from ..studies.catalog import get
from ..runs import Run, RunError
from ..runs.files import read_json
from ..settings import REPO_ROOT, cache_dir

LAUNCH_GRACE_S = 60  # a study that has not written its pid this long after its launch did not start


@dataclass(frozen=True)
class StudyStatus:
    running: bool
    fraction: float  # 0..1
    what: str  # the view being computed, or "done"
    error: str  # the log's last line when the process ended without a result; "" otherwise


def _files(run: Run, kind: str, settings) -> tuple[Path, Path]:
    """The progress and log files of a study: one per run, its weights (a retrained run is another), kind and settings."""
    w = run.weights_file()
    stamp = (w.stat().st_mtime_ns, w.stat().st_size) if w is not None and w.exists() else None
    tag = hashlib.sha256(json.dumps([asdict(settings), stamp], sort_keys=True).encode()).hexdigest()[:10]
    base = cache_dir() / "studies" / f"{run.id}-{kind}-{tag}"
    return base.with_suffix(".json"), base.with_suffix(".log")


def status(run: Run, kind: str, settings) -> StudyStatus | None:
    """Where a background study (a registered study's name and its settings) of ``run`` stands; None when none was started."""
    progress, log = _files(run, kind, settings)
    try:
        p = read_json(progress, 4096)
    except (RunError, OSError, ValueError):
        return None
    if not isinstance(p, dict):
        return None
    pid = int(p.get("pid") or 0)
    # between the launch and the child's first progress write the file holds no pid, only the launch time
    running = pid_alive(pid) if pid else time.time() - float(p.get("started") or 0) < LAUNCH_GRACE_S
    done = p.get("what") == "done"
    error = ""
    if not running and not done:
        try:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            error = lines[-1][:300] if lines else "the study stopped without a message."
        except OSError:
            error = "the study stopped without a message."
    return StudyStatus(running, float(p.get("fraction") or 0.0), str(p.get("what") or ""), error)


def start(run: Run, kind: str, settings) -> None:
    """Start the study of ``run`` in the background, unless it is already running."""
    st = status(run, kind, settings)
    if st is not None and st.running:
        return
    progress, log = _files(run, kind, settings)
    progress.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "explorer", "mechanisms", run.id, "--root", str(run.path.parent), "--kind", kind,
           *get(kind).flags(settings), "--progress-file", str(progress)]
    # written before the launch, so that it never overwrites what the child has already written
    atomic_write_json(progress, {"fraction": 0.0, "what": "starting", "pid": None, "started": time.time()})
    with open(log, "wb") as out:
        subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
