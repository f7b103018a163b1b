"""Per-step gradient statistics of every stage: the record (GradLog) and the on-device meter filling it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models import ResNet


@dataclass
class GradLog:
    """Per-step gradient statistics: one row a step, one column a parameter group."""

    groups: list[str]  # stage0..stageN, head
    mean_abs: np.ndarray  # (steps, groups) mean |grad| over the group's parameters
    l2: np.ndarray  # (steps, groups) L2 norm of the group's gradient
    loss: np.ndarray  # (steps,) training loss of the step's batch
    lr: np.ndarray  # (steps,)
    epoch: np.ndarray  # (steps,) 1-based epoch of the step

    @classmethod
    def empty(cls, groups: list[str]) -> "GradLog":
        g = len(groups)
        return cls(groups, np.zeros((0, g), np.float32), np.zeros((0, g), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.int32))

    def append(self, other: "GradLog") -> None:
        for name in ("mean_abs", "l2", "loss", "lr", "epoch"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def upto(self, epoch: int) -> "GradLog":
        keep = self.epoch <= epoch
        return GradLog(self.groups, self.mean_abs[keep], self.l2[keep], self.loss[keep], self.lr[keep], self.epoch[keep])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean_abs": self.mean_abs, "l2": self.l2, "loss": self.loss, "lr": self.lr, "epoch": self.epoch}


class GradMeter:
    """Mean |grad| and L2 norm of every stage's gradient, kept on the device for a whole epoch."""

    def __init__(self, model: ResNet, steps: int, device: torch.device):
        groups = model.stage_parameters()
        self.names = list(groups)
        self.params = [p for ps in groups.values() for p in ps]
        self.index = torch.tensor([i for i, ps in enumerate(groups.values()) for _ in ps], device=device)
        self.numel = torch.tensor([sum(p.numel() for p in ps) for ps in groups.values()], device=device, dtype=torch.float64)
        self.buf = torch.zeros(steps, 2, len(self.names), device=device, dtype=torch.float64)
        self.scalars = torch.zeros(steps, 2, device=device, dtype=torch.float64)  # loss, lr

    @torch.no_grad()
    def record(self, i: int, loss: torch.Tensor, lr: float) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        l1 = torch.stack(torch._foreach_norm(grads, 1)).double()
        l2 = torch.stack(torch._foreach_norm(grads, 2)).double()
        n = len(self.names)
        self.buf[i, 0] = torch.zeros(n, device=l1.device, dtype=l1.dtype).index_add_(0, self.index, l1) / self.numel
        self.buf[i, 1] = torch.zeros(n, device=l1.device, dtype=l1.dtype).index_add_(0, self.index, l2 * l2).sqrt()
        self.scalars[i, 0] = loss.detach().double()
        self.scalars[i, 1] = lr

    def to_log(self, steps: int, epoch: int) -> GradLog:
        b, s = self.buf[:steps].cpu().numpy(), self.scalars[:steps].cpu().numpy()
        return GradLog(self.names, b[:, 0].astype(np.float32), b[:, 1].astype(np.float32), s[:, 0].astype(np.float32),
                       s[:, 1].astype(np.float32), np.full(steps, epoch, np.int32))
