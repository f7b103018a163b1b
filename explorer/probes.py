"""Which probe set, data set and input normalisation a run is analysed with on this machine.

The probe set is the run's own data set's fixed 500 test images where that data set is here, else a
matching copy, else the zoo's shipped probe set (explorer.data.resolve says which, and a note says so).
"""
from __future__ import annotations

import functools
from pathlib import Path

from .data import Dataset, DataError, load_dataset, probe_set, resolve_probe
from .runs import Run


def run_mean_std(run: Run, data: Dataset | None = None):
    """The input normalisation the run was trained (or imported) with; the data set's own statistics if none is recorded."""
    import torch
    d = run.record.data
    if d.mean is not None and d.std is not None:
        return torch.tensor(d.mean), torch.tensor(d.std)
    if data is None:
        raise DataError(f"Run {run.id} records no input normalisation and its data set is not on this machine.")
    return data.mean_std()


def probe_for(run: Run, data: Dataset | str | None = None):
    """The probe set of ``run`` on this machine and a note on where it came from (explorer.data.resolve)."""
    if isinstance(data, Dataset):
        return probe_set(data), data, ""
    if isinstance(data, str):
        ds = load_dataset(data)
        return probe_set(ds), ds, ""
    d = run.record.data
    if not (d.source or d.name) and not d.fingerprint:
        raise DataError(f"Run {run.id} does not say which data set it was trained on; pass --data.")
    source = d.source or d.name or ""
    found = _resolve(source, d.fingerprint, tuple(d.classes or ()), d.description, _data_stamp(source))
    return found.probe, found.dataset, found.note


def _data_stamp(source: str) -> tuple:
    """What decides where a probe set comes from on this machine; resolutions are reused while it holds."""
    from .settings import SHARED_CIFAR_ZIP, find_path, torchvision_root

    def stamp(p: Path | None):
        try:
            st = p.stat()
            return (str(p), st.st_mtime_ns, st.st_size)
        except (OSError, AttributeError):
            return None
    own = find_path(source) if source not in ("", "digits", "cifar10") else None
    return (stamp(own), stamp(SHARED_CIFAR_ZIP), stamp(torchvision_root() / "cifar-10-batches-py"))


@functools.lru_cache(maxsize=4)  # data sets are large: a few, reused across the runs of one comparison
def _resolve(source: str, fingerprint: str, classes: tuple, description: str, stamp: tuple):
    return resolve_probe(source, fingerprint, list(classes), description)


def forget() -> None:
    """Forget the probe sets resolved so far (a benchmark's cold start; the data on this machine changed)."""
    _resolve.cache_clear()
