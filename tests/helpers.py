"""Small data folders and zips made on the fly for tests."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(seed: int, size=(32, 32), mode="RGB", fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    ch = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], ch), dtype=np.uint8)
    im = Image.fromarray(arr[..., 0] if ch == 1 else arr, mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def image_tree(classes=("cat", "dog", "eel"), n_train=6, n_test=4) -> dict[str, bytes]:
    files = {}
    for ci, c in enumerate(classes):
        for split, n in (("train", n_train), ("test", n_test)):
            for i in range(n):
                files[f"{split}/{c}/{i:03d}.png"] = png_bytes(hash((ci, split, i)) % 2**32)
    return files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for rel, data in files.items():
            z.writestr(rel, data)
    return path
