"""The in-memory data set record, its content fingerprint, and per-channel normalisation.

A `Dataset` holds train/test images as uint8 tensors (N, 3, 32, 32), int64 labels, the class
names and a fingerprint of the decoded content, so a run can say exactly what it was trained on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import settings

IMAGE_SIZE = 32  # pixels a side; every source is brought to (3, 32, 32)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
JPEG_COPY = "CIFAR-10 (JPEG copy)"  # the description of ../shared/data/cifar10-jpeg.zip


class DataError(ValueError):
    """A data set that cannot be read; the message says what was expected."""


def default_cache_dir() -> Path:
    """Where decoded data sets and analysis tables are cached (env EXPLORER_CACHE)."""
    return settings.cache_dir()


def shown(path: str | Path) -> str:
    """A path as echoed in a message: cut in the middle when long."""
    return settings.shorten(str(path))


@dataclass
class Dataset:
    name: str  # "cifar10", "digits", or the folder / zip path
    description: str  # e.g. "CIFAR-10 (JPEG copy)"
    train_x: torch.Tensor  # (N, 3, 32, 32) uint8
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor  # (M, 3, 32, 32) uint8
    test_y: torch.Tensor  # (M,) int64
    classes: list[str]
    fingerprint: str = ""  # sha256 of the decoded content, first 16 hex digits
    notes: list[str] = field(default_factory=list)
    _stats: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training split, in [0, 1] units, shape (3,).

        Accumulated in float64 over chunks, so a 50,000-image split needs no float copy.
        """
        if self._stats is None:
            s = torch.zeros(3, dtype=torch.float64)
            s2 = torch.zeros(3, dtype=torch.float64)
            for i in range(0, len(self.train_x), 4096):
                x = self.train_x[i:i + 4096].to(torch.float64).div_(255)
                s += x.sum(dim=(0, 2, 3))
                s2 += (x * x).sum(dim=(0, 2, 3))
            n = self.train_x.shape[0] * self.train_x.shape[2] * self.train_x.shape[3]
            mean = s / n
            std = ((s2 - n * mean * mean) / (n - 1)).clamp_min(1e-12).sqrt()
            self._stats = (mean.float(), std.float())
        return self._stats


def content_fingerprint(*arrays: np.ndarray | torch.Tensor) -> str:
    """sha256 over each array's shape and bytes, first 16 hex digits."""
    h = hashlib.sha256()
    for a in arrays:
        a = a.numpy() if isinstance(a, torch.Tensor) else a
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def make_dataset(name, description, tx, ty, vx, vy, classes, notes=(), fp: str = "") -> Dataset:
    """A `Dataset` from arrays; the fingerprint is computed unless given."""
    tx, vx = torch.as_tensor(tx, dtype=torch.uint8), torch.as_tensor(vx, dtype=torch.uint8)
    ty, vy = torch.as_tensor(ty, dtype=torch.int64), torch.as_tensor(vy, dtype=torch.int64)
    fp = fp or content_fingerprint(tx, ty, vx, vy, np.array(classes))
    return Dataset(name, description, tx, ty, vx, vy, list(classes), fp, list(notes))


def normalize(x_uint8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float, normalised per channel."""
    x = x_uint8.to(dtype).div_(255)
    return x.sub_(mean.to(x.device, dtype).view(1, -1, 1, 1)).div_(std.to(x.device, dtype).view(1, -1, 1, 1))
