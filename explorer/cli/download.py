"""`download-cifar10`: torchvision's CIFAR-10 into the data root (needs internet; checks the md5)."""
from __future__ import annotations

from pathlib import Path

from ..settings import torchvision_root


def add_parser(sub):
    d = sub.add_parser("download-cifar10", help="download CIFAR-10 with torchvision (needs internet)")
    d.add_argument("--root", type=Path, default=None, help=f"where to put it (default {torchvision_root()})")
    return d


def run(a) -> int:
    from ..data import load_dataset
    root = a.root or torchvision_root()
    ds = load_dataset("cifar10", root, download=True)
    print(f"CIFAR-10 is in {root}: {len(ds.train_y)} train, {len(ds.test_y)} test images.")
    return 0
