"""The run lock: a file holding "pid host" while a process trains the run (O_EXCL)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from ..atomic import FileRefused, read_capped
from .files import RunError


def lock_alive(lock: Path) -> bool:
    try:
        pid, host = read_capped(lock, 512, what="run lock").decode("utf-8", "replace").split()
    except (FileRefused, ValueError):
        return False
    if host != socket.gethostname():
        return True  # cannot tell for another machine; assume alive
    if not pid.isdigit() or not 0 < int(pid) < 2**22:  # 0 or a negative pid would name a process group: not a lock
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def acquire_lock(run_path: Path) -> None:
    """Take the run's lock (O_EXCL); a lock left by a dead process is taken over."""
    lock = run_path / "lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if lock_alive(lock):
                raise RunError(f"Run {run_path.name} is being trained by another process.") from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}")
        return
    raise RunError(f"Could not lock run {run_path.name}.")


def release_lock(run_path: Path) -> None:
    (run_path / "lock").unlink(missing_ok=True)
