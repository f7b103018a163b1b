"""Which probe images a run is analysed on, on this machine.

In order: the run's own data source, if it loads here; else a matching data set on this machine
(the CIFAR-10 JPEG copy under ../shared/data, or torchvision's CIFAR-10, for a CIFAR-10 run);
else the shipped probe set, when it was drawn from the run's data; else one sentence saying how
to get the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import settings
from .dataset import CIFAR10_CLASSES, JPEG_COPY, DataError, Dataset, shown
from .probe import ProbeSet, probe_set, read_probe_file, shipped_probes
from .cifar10 import cifar10_present, load_cifar10
from .sources import load_dataset

OWN = "the run's own data"
JPEG_ON_MACHINE = "the CIFAR-10 JPEG copy on this machine"
TORCHVISION = "torchvision's CIFAR-10 on this machine"
SHIPPED = "the shipped probe set"


@dataclass(frozen=True)
class ResolvedProbe:
    probe: ProbeSet
    origin: str  # one of OWN, JPEG_ON_MACHINE, TORCHVISION, SHIPPED
    note: str = ""  # shown to the user; empty when the probe is exactly the run's
    dataset: Dataset | None = field(default=None, compare=False, repr=False)  # None for the shipped set


def _own_source(source: str) -> Dataset | None:
    """The run's data source, when it can be loaded here (an existing path, digits, cifar10)."""
    s = str(source).strip()
    if not s:
        return None
    if s == "digits":
        return load_dataset(s)
    if s == "cifar10":
        return load_cifar10() if cifar10_present() else None
    p = settings.find_path(s)  # as given, then from the repository
    return load_dataset(p) if p is not None else None


def _changed(ds: Dataset, fingerprint: str) -> str:
    if not fingerprint or ds.fingerprint == fingerprint:
        return ""
    return (f"The data at {shown(ds.name)} is not the data the run was trained on (fingerprint {ds.fingerprint}, "
            f"the run's {fingerprint}); its probe set may hold other images.")


def _on_machine(fingerprint: str, classes: list[str], description: str) -> ResolvedProbe | None:
    if list(classes) != CIFAR10_CLASSES:
        return None
    jpeg = [(JPEG_ON_MACHINE, settings.SHARED_CIFAR_ZIP)] if Path(settings.SHARED_CIFAR_ZIP).is_file() else []
    tv = [(TORCHVISION, settings.torchvision_root())] if cifar10_present(settings.torchvision_root()) else []
    for origin, where in (jpeg + tv if description == JPEG_COPY else tv + jpeg):
        try:
            ds = load_dataset(where) if origin == JPEG_ON_MACHINE else load_cifar10(where)
        except DataError:
            continue
        note = _changed(ds, fingerprint)
        if ds.description != description:
            note = (f"The run was trained on {description or 'another copy of CIFAR-10'}; these probe images come from "
                    f"{ds.description} at {shown(where)}, the same test images with other pixels "
                    f"({'the original, not the JPEG copy' if origin == TORCHVISION else 'a JPEG copy, not the original'}), "
                    "so the probe hash differs.")
        return ResolvedProbe(probe_set(ds), origin, note, ds)
    return None


def _shipped(fingerprint: str, classes: list[str], description: str) -> ResolvedProbe | None:
    candidates = shipped_probes()
    exact = [p for p, m in candidates if fingerprint and m.get("fingerprint") == fingerprint]
    if exact:
        return ResolvedProbe(read_probe_file(exact[0]), SHIPPED)
    if description != JPEG_COPY:
        return None
    for path, meta in candidates:
        if meta.get("description") == JPEG_COPY:
            probe = read_probe_file(path)
            if probe.classes == list(classes):
                note = (f"The shipped probe set was drawn from {JPEG_COPY} with fingerprint {probe.data_fingerprint}; "
                        f"the run's data has fingerprint {fingerprint or 'unknown'}.")
                return ResolvedProbe(probe, SHIPPED, note)
    return None


def resolve_probe(source: str, fingerprint: str, classes: list[str], description: str) -> ResolvedProbe:
    """The probe set to analyse a run on: from its own data, a matching data set here, or the shipped file.

    Parameters
    ----------
    source, fingerprint, classes, description
        What the run's record says about its data (``config["data"]``).

    Raises
    ------
    DataError
        When none of the three is available; the message says how to get the data.
    """
    try:
        ds = _own_source(source)
    except DataError:
        ds = None  # on disk but unreadable here: try the other sources
    if ds is not None and (not classes or ds.classes == list(classes)):
        return ResolvedProbe(probe_set(ds), OWN, _changed(ds, fingerprint), ds)
    found = _on_machine(fingerprint, classes, description) or _shipped(fingerprint, classes, description)
    if found is not None:
        return found
    what = description or str(source) or "the run's data"
    if list(classes) == CIFAR10_CLASSES:
        raise DataError(f"The probe images of {what} are not on this machine; get CIFAR-10 with "
                        "`python -m explorer download-cifar10`, or give the path of a copy of the data.")
    raise DataError(f"The probe images of {what} are not on this machine; give the path of a copy of "
                    f"{shown(source) if source else 'the data the run was trained on'}.")
