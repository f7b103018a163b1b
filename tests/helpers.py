"""Small data folders, zips and weights files made on the fly for tests."""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explorer.models import build_model


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


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def akamaster_layout(model, counters=False):
    """An explorer cifar ResNet's state dict under the key names of the common CIFAR ResNet code
    (the files named resnet20-….th): module.conv1, module.bn1, module.layerN.j.{conv,bn}{1,2},
    module.linear; option-A shortcuts have no parameters. That code's files predate BatchNorm's
    step counter, so it is left out unless asked for."""
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked") and not counters:
            continue
        k = re.sub(r"^stages\.0\.0\.", "conv1.", k)
        k = re.sub(r"^stages\.0\.1\.", "bn1.", k)
        k = re.sub(r"^stages\.(\d)\.", r"layer\1.", k)
        out["module." + re.sub(r"^fc\.", "linear.", k)] = v.clone()
    return out


def randomized(name, seed=0):
    """A model with random weights and random BatchNorm statistics (so eval-mode logits depend on all of them)."""
    torch.manual_seed(seed)
    m = build_model(name)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m.eval()
