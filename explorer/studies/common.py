"""Input checks and passes shared by the mechanism studies."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from ..blocks import BlockAccess


class MechanismError(ValueError):
    """Input a mechanism study cannot use; the message says what was expected."""


def check_probe(model, x, y=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate a net and its probe set: normalised float images (N, 3, H, W), integer labels (N,)."""
    if not isinstance(model, BlockAccess) or not isinstance(model, torch.nn.Module):
        raise MechanismError("The model must be an explorer ResNet (see explorer.models.build_model).")
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise MechanismError("Images must be a float tensor (N, 3, H, W), already normalised "
                             "(explorer.data.normalize(images, mean, std)).")
    if len(x) < 2:
        raise MechanismError(f"A probe set needs at least 2 images, got {len(x)}.")
    if y is None:
        return x, None
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if y.ndim != 1 or len(y) != len(x) or y.is_floating_point() or y.dtype == torch.bool:
        raise MechanismError(f"Labels must be {len(x)} integers, one per image; got {tuple(y.shape)} of {y.dtype}.")
    classes = model.fc.out_features
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise MechanismError(f"Labels must lie in 0..{classes - 1} for this {classes}-class model.")
    return x, y.long()


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise MechanismError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return batch_size


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch on the net's device, channels-last: oneDNN and cuDNN convolve NHWC faster (same values)."""
    return x.to(device).contiguous(memory_format=torch.channels_last)


@contextmanager
def mode(model: torch.nn.Module, training: bool) -> Iterator[torch.nn.Module]:
    """Put ``model`` in train or eval mode for the block; restore its mode afterwards."""
    was = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was)


def stage_of(block: str) -> str:
    """``stem`` -> ``stage0``, ``s2.b3`` -> ``stage2``."""
    return "stage0" if block == "stem" else f"stage{block[1:block.index('.')]}"
