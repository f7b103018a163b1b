"""Stage features of the probe set: one forward pass in eval mode, no gradients, in batches.

Reductions of a stage's (N, C, H, W) output:

* ``gap``: global average pooling over H and W -> (N, C);
* ``flat``: the whole map flattened -> (N, C*H*W).

Features are written batch by batch into preallocated float32 arrays, so the peak memory is
the features themselves plus one batch of activations (a resnet50 'flat' extraction of 500
images holds about 1.2 GB of features and stays well below 3 GB RSS).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..data import normalize
from ..models import ResNet

REDUCTIONS = ("gap", "flat")


def reduce(t: torch.Tensor, reduction: str) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) for gap, (N, C*H*W) for flat."""
    if reduction == "gap":
        return t.mean(dim=(2, 3))
    if reduction == "flat":
        return t.flatten(1)
    raise ValueError(f"Unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}.")


def extract(model: ResNet, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, *, reduction: str = "gap",
            stages: list[str] | None = None, batch_size: int = 100, device: str | torch.device = "cpu",
            progress: Callable[[float], None] | None = None) -> dict[str, np.ndarray]:
    """Stage features of ``images`` (uint8, (N, 3, 32, 32)) as {stage: float32 (N, D)}.

    The model is put in eval mode (BatchNorm uses its running statistics) and restored to
    its previous mode afterwards.
    """
    return extract_reductions(model, images, mean, std, (reduction,), stages=stages, batch_size=batch_size,
                              device=device, progress=progress)[reduction]


@torch.no_grad()
def extract_reductions(model: ResNet, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                       reductions: tuple[str, ...], *, stages: list[str] | None = None, batch_size: int = 100,
                       device: str | torch.device = "cpu", progress: Callable[[float], None] | None = None
                       ) -> dict[str, dict[str, np.ndarray]]:
    """:func:`extract` in several reductions from one forward pass: {reduction: {stage: (N, D)}}.

    Each reduction's features are exactly those :func:`extract` gives for it alone.
    """
    if not reductions or any(r not in REDUCTIONS for r in reductions):
        raise ValueError(f"Unknown reduction in {reductions!r}; expected some of {', '.join(REDUCTIONS)}.")
    stages = list(stages or model.stage_names)
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    n = len(images)
    out: dict[str, dict[str, np.ndarray]] = {r: {} for r in reductions}
    try:
        for i in range(0, n, batch_size):
            xb = normalize(images[i:i + batch_size].to(device), mean, std)
            feats = model.forward_stages(xb, stages)
            for name, t in feats.items():
                for red in reductions:
                    r = reduce(t, red).float().cpu().numpy()  # (B, D)
                    if name not in out[red]:
                        out[red][name] = np.empty((n, r.shape[1]), dtype=np.float32)
                    out[red][name][i:i + len(r)] = r
            del feats
            if progress is not None:
                progress(min(1.0, (i + batch_size) / n))
    finally:
        model.train(was_training)
    return {red: {s: out[red][s] for s in stages} for red in reductions}
