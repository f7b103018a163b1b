"""Every path and environment variable of the explorer, resolved once, absolute.

Relative values are taken from the repository root (the folder that holds ``explorer/``),
never from the folder a command or the app was started in, so the app, its background jobs
and the CLI all read and write the same stores.

| variable | default | meaning |
| --- | --- | --- |
| EXPLORER_ZOO | checkpoints | the shipped reference runs |
| EXPLORER_RUNS | runs | where the app's own training runs go |
| EXPLORER_CACHE | .cache/explorer | decoded data sets and analysis tables |
| EXPLORER_DATA | data | torchvision's CIFAR-10 root |
| EXPLORER_CIFAR10_URL | (torchvision's) | where `download-cifar10` fetches the archive (a mirror); md5 still checked |
| EXPLORER_DATA_ROOTS | ../shared/data:data | deploy mode: data paths must lie under one of these |
| EXPLORER_DEPLOY | 0 | 1: shared-server mode (the limits below apply) |
| EXPLORER_MAX_QUEUE | 4 | deploy mode: queued + running jobs allowed at once |
| EXPLORER_MAX_RUNNING | 1 | training jobs running at the same time |
| EXPLORER_MAX_STUDIES | 4 | background mechanism studies running at the same time, all sessions together |
| EXPLORER_MAX_STUDIES_SESSION | 2 | deploy mode: background studies one session may run at once |
| EXPLORER_MAX_UPLOAD_MB | 50 | largest accepted upload (also capped by .streamlit/config.toml) |
| EXPLORER_OWNER | (empty) | set by the app on its jobs: the session that queued them |
| EXPLORER_WORKERS | cores - 1, at most 2 | processes that score separability metrics beside the app or CLI; 0: in its own process |
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR_ZIP = REPO_ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"
PROBE_DIR = REPO_ROOT / "checkpoints" / "probe"  # the shipped probe set(s)
SHIPPED_CACHE = REPO_ROOT / "checkpoints" / "analysis"  # the zoo's analyses, as cache entries
SHIPPED_STUDIES = REPO_ROOT / "checkpoints" / "studies"  # studies of no one run (the initialisation sweep), as tables
SHIPPED_PROBE_NAME = "cifar10-jpeg-probe.safetensors"  # the probe set of the JPEG copy, under PROBE_DIR


def _path(name: str, default: str) -> Path:
    raw = os.environ.get(name, "").strip() or default
    p = Path(raw).expanduser()
    return (p if p.is_absolute() else REPO_ROOT / p).resolve()


def _int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def zoo_root() -> Path:
    return _path("EXPLORER_ZOO", "checkpoints")


def own_root() -> Path:
    return _path("EXPLORER_RUNS", "runs")


def cache_dir() -> Path:
    return _path("EXPLORER_CACHE", ".cache/explorer")


def torchvision_root() -> Path:
    return _path("EXPLORER_DATA", "data")


def cifar10_url() -> str:
    """A mirror of torchvision's cifar-10-python.tar.gz; empty means torchvision's own URL."""
    return os.environ.get("EXPLORER_CIFAR10_URL", "").strip()


def find_path(raw: str | Path) -> Path | None:
    """An existing path named by ``raw``: as given, else relative to the repository; None if neither exists."""
    for p in dict.fromkeys([Path(raw).expanduser(), repo_path(raw)]):
        if p.exists():
            return p
    return None


def repo_path(raw: str | Path) -> Path:
    """A path written in a run's record: absolute, or relative to the repository root."""
    p = Path(raw).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def jobs_dir(root: Path | None = None) -> Path:
    return (Path(root) if root is not None else own_root()) / ".jobs"


def data_roots() -> list[Path]:
    raw = os.environ.get("EXPLORER_DATA_ROOTS", "../shared/data:data")
    out = []
    for part in raw.split(":"):
        if part.strip():
            p = Path(part.strip()).expanduser()
            out.append((p if p.is_absolute() else REPO_ROOT / p).resolve())
    return out


def deploy_mode() -> bool:
    return os.environ.get("EXPLORER_DEPLOY", "0").strip().lower() in ("1", "true", "yes", "on")


def max_queue() -> int:
    return _int("EXPLORER_MAX_QUEUE", 4)


def max_running() -> int:
    return _int("EXPLORER_MAX_RUNNING", 1)


def max_studies() -> int:
    return _int("EXPLORER_MAX_STUDIES", 4)


def max_studies_session() -> int:
    return _int("EXPLORER_MAX_STUDIES_SESSION", 2)


def max_upload_bytes() -> int:
    return _int("EXPLORER_MAX_UPLOAD_MB", 50) * 1024 * 1024


def owner() -> str:
    return os.environ.get("EXPLORER_OWNER", "")


def shorten(text: str, limit: int = 120) -> str:
    """A path or value echoed in a message, cut in the middle when it is long."""
    text = str(text)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-half:]


def check_data_path(path: str | Path) -> None:
    """In deploy mode a data path must lie under a configured root; raises ValueError otherwise."""
    if not deploy_mode():
        return
    p = Path(path).expanduser().resolve()
    if not any(p == r or r in p.parents for r in data_roots()):
        roots = ", ".join(str(r) for r in data_roots())
        raise ValueError(f"On this server data must come from under {roots}; {shorten(path)} is outside.")


def scoring_workers() -> int:
    """Worker processes that score separability metrics beside the caller (explorer.analysis.scoring): EXPLORER_WORKERS,
    else one a core beyond the first, at most 2; 0 scores in the caller's own process."""
    default = min(2, max(0, (os.cpu_count() or 1) - 1))
    try:
        return max(0, min(int(os.environ.get("EXPLORER_WORKERS", default)), 8))
    except ValueError:
        return default
