"""Data set choices shared by the pages: what is available on this machine, and loading."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ..data import load_dataset

SHARED_ZIP = Path("../shared/data/cifar10-jpeg.zip")


def data_status() -> str:
    lines = ["- `digits` (scikit-learn's bundled digits) is always available, offline."]
    if SHARED_ZIP.exists():
        lines.append(f"- A JPEG copy of CIFAR-10 is at `{SHARED_ZIP}`.")
    if Path("data/cifar-10-batches-py").is_dir():
        lines.append("- torchvision's CIFAR-10 is in `data/`.")
    if len(lines) == 1:
        lines.append("- **CIFAR-10 is not on this machine.** Get it with internet: "
                     "`python -m explorer download-cifar10` (or tick *download* on the Train page); "
                     "or give the path of a copy (a folder or .zip with `train/<class>/*.jpg` and `test/<class>/*.jpg`).")
    return "\n".join(lines)


@st.cache_resource(show_spinner="Loading the data set…", max_entries=4)
def cached_dataset(source: str):
    """Data sets are large tensors: one shared copy per source (cache_resource, not copied)."""
    return load_dataset(source)


def dataset_for(source: str):
    return cached_dataset(source)  # a DataError is not cached: the next call tries again
