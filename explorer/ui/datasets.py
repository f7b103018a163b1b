"""Data set choices shared by the pages: what is on this machine, loading, and the CIFAR-10 download."""
from __future__ import annotations

import streamlit as st

from .. import settings
from ..data import DataError, cifar10_present, download_cifar10, load_dataset
from .words import app_words

SHARED_ZIP = settings.SHARED_CIFAR_ZIP


def data_status() -> str:
    lines = ["- `digits` (scikit-learn's bundled digits) is always available, offline.",
             "- The shipped zoo is analysable everywhere: its 500 probe images ship with it."]
    if SHARED_ZIP.exists():
        lines.append(f"- A JPEG copy of CIFAR-10 is at `{SHARED_ZIP}`.")
    if cifar10_present(settings.torchvision_root()):
        lines.append(f"- torchvision's CIFAR-10 is in `{settings.torchvision_root()}`.")
    if len(lines) == 2:
        lines.append("- **CIFAR-10 is not on this machine.** Training on it and test accuracy over its 10,000 test "
                     "images need it: click *Download CIFAR-10* below (needs internet, about 170 MB, checksum "
                     "verified), or choose *CIFAR-10 JPEG zip* or *image folder or .zip* on the Train page and give "
                     "the path of a copy (a folder or .zip with `train/<class>/*.jpg` and `test/<class>/*.jpg`).")
    return "\n".join(lines)


def download_button(key: str) -> None:
    """A "Download CIFAR-10" button with a progress bar; offline gives one sentence."""
    if cifar10_present(settings.torchvision_root()):
        return
    if not st.button("Download CIFAR-10", key=key, help=f"torchvision's CIFAR-10 into {settings.torchvision_root()}"):
        return
    bar = st.progress(0.0, text="downloading CIFAR-10…")
    try:
        download_cifar10(settings.torchvision_root(), progress=lambda f, msg: bar.progress(min(1.0, f), text=msg))
    except DataError as e:
        bar.empty()
        st.error(app_words(str(e)))
        return
    bar.empty()
    st.success(f"CIFAR-10 is in {settings.torchvision_root()}.")


@st.cache_resource(show_spinner="Loading the data set…", max_entries=4)
def cached_dataset(source: str):
    """Data sets are large tensors: one shared copy per source (cache_resource, not copied)."""
    return load_dataset(source)


def dataset_for(source: str):
    return cached_dataset(source)  # a DataError is not cached: the next call tries again
