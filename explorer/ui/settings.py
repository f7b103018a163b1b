"""App settings from the environment, including the deployment mode for shared servers.

| variable | default | meaning |
| --- | --- | --- |
| EXPLORER_RUNS | runs | where the app's own training runs go |
| EXPLORER_ZOO | checkpoints | the shipped reference runs |
| EXPLORER_DEPLOY | 0 | 1: shared-server mode (the rows below apply) |
| EXPLORER_DATA_ROOTS | ../shared/data:data | deploy mode: data paths must lie under one of these |
| EXPLORER_MAX_QUEUE | 4 | deploy mode: queued + running jobs allowed at once |
| EXPLORER_MAX_RUNNING | 1 | training jobs running at the same time |
| EXPLORER_MAX_UPLOAD_MB | 50 | largest accepted upload (also capped by .streamlit/config.toml) |
"""
from __future__ import annotations

import os
from pathlib import Path


def _int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def deploy_mode() -> bool:
    return os.environ.get("EXPLORER_DEPLOY", "0").strip().lower() in ("1", "true", "yes", "on")


def own_root() -> Path:
    return Path(os.environ.get("EXPLORER_RUNS", "runs"))


def data_roots() -> list[Path]:
    raw = os.environ.get("EXPLORER_DATA_ROOTS", "../shared/data:data")
    return [Path(p).expanduser().resolve() for p in raw.split(":") if p.strip()]


def max_queue() -> int:
    return _int("EXPLORER_MAX_QUEUE", 4)


def max_running() -> int:
    return _int("EXPLORER_MAX_RUNNING", 1)


def max_upload_bytes() -> int:
    return _int("EXPLORER_MAX_UPLOAD_MB", 50) * 1024 * 1024


def check_data_path(path: str) -> None:
    """In deploy mode a data path must lie under a configured root; raises ValueError otherwise."""
    if not deploy_mode():
        return
    p = Path(path).expanduser().resolve()
    if not any(p == r or r in p.parents for r in data_roots()):
        roots = ", ".join(str(r) for r in data_roots())
        raise ValueError(f"On this server data must come from under {roots}; {path} is outside.")
