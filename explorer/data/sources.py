"""Where a data set comes from: scikit-learn's digits, torchvision's CIFAR-10, or a folder / zip.

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), upsampled to 32x32x3 and
  split stratified 70/30 with a fixed seed: a real, tiny, offline data set;
* ``cifar10``: torchvision's CIFAR-10 files under `settings.torchvision_root()` (fetched only
  on request, see `download.download_cifar10`);
* a path to a folder or a .zip holding ``train/<class>/*.jpg|png`` and ``test/<class>/*``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset, make_dataset
from .cifar10 import cifar10_present, load_cifar10
from .folder import load_folder

def load_digits(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits, upsampled 4x (nearest) to 32x32 and repeated to RGB."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    d = _load()
    img = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    img = img.repeat(4, axis=1).repeat(4, axis=2)[:, None].repeat(3, axis=1)  # (1797, 3, 32, 32)
    idx = np.arange(len(img))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=d.target, random_state=seed)
    tr, te = np.sort(tr), np.sort(te)
    classes = [str(c) for c in range(10)]
    return make_dataset("digits", "scikit-learn digits (8x8 upsampled to 32x32)", img[tr], d.target[tr], img[te],
                        d.target[te], classes)


def load_dataset(source: str | Path, root: str | Path | None = None, download: bool = False,
                 cache_dir: str | Path | None | bool = None, allowed_roots: list[Path] | None = None) -> Dataset:
    """``cifar10``, ``digits``, or a path to a folder / .zip (see the module docstring)."""
    s = str(source).strip()
    if not s:
        raise DataError("No data set given; expected cifar10, digits, or a path to a folder or .zip.")
    if s == "digits":
        return load_digits()
    if s == "cifar10":
        if download and not cifar10_present(root):
            from .download import download_cifar10
            return download_cifar10(root)
        return load_cifar10(root)
    return load_folder(s, cache_dir, allowed_roots)
