"""torchvision's CIFAR-10 files: where they sit, whether they are there, and reading them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import settings
from .dataset import DataError, Dataset, make_dataset, shown

CIFAR10_FOLDER = "cifar-10-batches-py"  # torchvision's folder under its root
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta")
CIFAR10_HELP = (
    "CIFAR-10 was not found under {root!r}. Either download it (needs internet): "
    "`python -m explorer download-cifar10 --root {root}` or tick 'download' in the app; "
    "or point to a copy: a torchvision cifar-10-batches-py folder's parent, or a folder/.zip with "
    "train/<class>/*.jpg and test/<class>/*.jpg (e.g. ../shared/data/cifar10-jpeg.zip)."
)


def cifar10_present(root: str | Path | None = None) -> bool:
    """Whether torchvision's CIFAR-10 files are under ``root`` (their md5 is checked on loading)."""
    folder = Path(root if root is not None else settings.torchvision_root()).expanduser() / CIFAR10_FOLDER
    return all((folder / f).is_file() for f in CIFAR10_FILES)


def load_cifar10(root: str | Path | None = None) -> Dataset:
    """torchvision's CIFAR-10 under ``root`` (default `settings.torchvision_root()`).

    torchvision checks every batch file's md5 before it unpickles it, so only the published
    files are ever read. Fetching them is `download.download_cifar10`'s job.
    """
    from torchvision.datasets import CIFAR10

    root = Path(root).expanduser() if root is not None else settings.torchvision_root()
    try:
        train = CIFAR10(str(root), train=True, download=False)
        test = CIFAR10(str(root), train=False, download=False)
    except Exception as e:  # noqa: BLE001 - not found, damaged (md5), unreadable
        reason = " ".join(str(e).split())[:120]
        raise DataError(CIFAR10_HELP.format(root=shown(root)) + f" ({reason})") from None
    tx = np.ascontiguousarray(train.data.transpose(0, 3, 1, 2))  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    vx = np.ascontiguousarray(test.data.transpose(0, 3, 1, 2))
    return make_dataset("cifar10", "CIFAR-10", tx, train.targets, vx, test.targets, list(train.classes))
