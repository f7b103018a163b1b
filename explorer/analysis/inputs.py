"""A run's analysis inputs, built once: which probe set, data set and input normalisation a run is
analysed with on this machine, and the key of every input that changes its features.

The probe set is the run's own data set's fixed 500 test images where that data set is here, else a
matching copy, else the zoo's shipped probe set (explorer.data.resolve says which, and a note says so).
The input normalisation is the one the run records (training writes exactly the statistics it
normalised with, at full precision); only a record without one falls back to the data set's own.
Every consumer (the separability table, the 2-D views, the studies, evaluation) takes an
:class:`AnalysisInputs` from :func:`inputs_for`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import __version__
from ..data import Dataset, DataError, ProbeSet, load_dataset, probe_set, resolve_probe
from ..runs import Run, RunError
from ..runs.files import WEIGHTS_CAP, hash_bounded


@dataclass(frozen=True)
class AnalysisInputs:
    """What a run is analysed with here: its probe set, the data set found (or None), a note on where
    the probe came from, and the input normalisation as recorded (per-channel mean and std)."""

    run: Run
    probe: ProbeSet
    dataset: Dataset | None
    note: str
    normalization: tuple[tuple[float, ...], tuple[float, ...]]

    @property
    def mean(self) -> torch.Tensor:
        return torch.tensor(self.normalization[0])

    @property
    def std(self) -> torch.Tensor:
        return torch.tensor(self.normalization[1])

    def key(self, reduction: str) -> dict:
        """Every input that changes the run's features: weights, input normalisation, probe set, reduction, code."""
        return {"weights": weights_hash(self.run), "normalization": [*self.normalization[0], *self.normalization[1]],
                "probe": self.probe.hash, "reduction": reduction, "version": __version__}


def inputs_for(run: Run, data: Dataset | str | None = None) -> AnalysisInputs:
    """The one place a run's analysis inputs are made (see the module doc)."""
    probe, ds, note = probe_for(run, data)
    return AnalysisInputs(run, probe, ds, note, recorded_normalization(run, ds))


def recorded_normalization(run: Run, data: Dataset | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input normalisation the run was trained (or imported) with, as its record holds it; the data
    set's own statistics if none is recorded."""
    d = run.record.data
    if d.mean is not None and d.std is not None:
        return tuple(float(v) for v in d.mean), tuple(float(v) for v in d.std)
    if data is None:
        raise DataError(f"Run {run.id} records no input normalisation and its data set is not on this machine.")
    mean, std = data.mean_std()
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def run_mean_std(run: Run, data: Dataset | None = None):
    """:func:`recorded_normalization` as tensors (mean, std)."""
    mean, std = recorded_normalization(run, data)
    return torch.tensor(mean), torch.tensor(std)


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
    from ..settings import SHARED_CIFAR_ZIP, find_path, torchvision_root

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


def weights_hash(run: Run) -> str:
    """sha256 of the run's weights file (24 hex digits), remembered while the file is unchanged.

    Hashed through the run store's door: a FIFO, device or link out of the run folder is a RunError,
    and the file is read in bounded chunks, never whole."""
    p = run.weights_file()
    if p is None:
        raise RunError(f"Run {run.id} has no weights to analyse (no finished epoch, or weights not shipped).")
    try:
        st = p.stat()
    except OSError as e:
        raise RunError(f"{p.name} of run {run.id} cannot be read ({e.strerror or type(e).__name__}).") from None
    return _hash_file(p, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _hash_file(path: Path, mtime_ns: int, size: int) -> str:
    return hash_bounded(path, WEIGHTS_CAP)[:24]
