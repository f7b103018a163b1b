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

from .. import settings
from .dataset import DataError, Dataset, make_dataset, shown
from .folder import load_folder

CIFAR10_FOLDER = "cifar-10-batches-py"  # torchvision's folder under its root
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta")
CIFAR10_HELP = (
    "CIFAR-10 was not found under {root!r}. Either download it (needs internet): "
    "`python -m explorer download-cifar10 --root {root}` or tick 'download' in the app; "
    "or point to a copy: a torchvision cifar-10-batches-py folder's parent, or a folder/.zip with "
    "train/<class>/*.jpg and test/<class>/*.jpg (e.g. ../shared/data/cifar10-jpeg.zip)."
)


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


def cifar10_present(root: str | Path | None = None) -> bool:
    """Whether torchvision's CIFAR-10 files are under ``root`` (their md5 is checked on loading)."""
    folder = Path(root if root is not None else settings.torchvision_root()).expanduser() / CIFAR10_FOLDER
    return all((folder / f).is_file() for f in CIFAR10_FILES)


def load_cifar10(root: str | Path | None = None, download: bool = False) -> Dataset:
    """torchvision's CIFAR-10 under ``root`` (default `settings.torchvision_root()`).

    torchvision checks every batch file's md5 before it unpickles it, so only the published
    files are ever read. ``download=True`` fetches them first when they are missing.
    """
    from torchvision.datasets import CIFAR10

    root = Path(root).expanduser() if root is not None else settings.torchvision_root()
    if download and not cifar10_present(root):
        from .download import download_cifar10
        return download_cifar10(root)
    try:
        train = CIFAR10(str(root), train=True, download=False)
        test = CIFAR10(str(root), train=False, download=False)
    except Exception as e:  # noqa: BLE001 - not found, damaged (md5), unreadable
        reason = " ".join(str(e).split())[:120]
        raise DataError(CIFAR10_HELP.format(root=shown(root)) + f" ({reason})") from None
    tx = np.ascontiguousarray(train.data.transpose(0, 3, 1, 2))  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    vx = np.ascontiguousarray(test.data.transpose(0, 3, 1, 2))
    return make_dataset("cifar10", "CIFAR-10", tx, train.targets, vx, test.targets, list(train.classes))


def load_dataset(source: str | Path, root: str | Path | None = None, download: bool = False,
                 cache_dir: str | Path | None | bool = None, allowed_roots: list[Path] | None = None) -> Dataset:
    """``cifar10``, ``digits``, or a path to a folder / .zip (see the module docstring)."""
    s = str(source).strip()
    if not s:
        raise DataError("No data set given; expected cifar10, digits, or a path to a folder or .zip.")
    if s == "digits":
        return load_digits()
    if s == "cifar10":
        return load_cifar10(root, download)
    return load_folder(s, cache_dir, allowed_roots)
