"""Shattered gradients: how fast the input gradient of a net decorrelates along a line of inputs.

Balduzzi et al. (2017) feed a net with one scalar input a grid of inputs on a line and look at
the gradient of its output with respect to the input: in deep plain nets it decorrelates
between neighbouring inputs like white noise ("shattered"); in residual nets it stays
correlated much longer. Here the input is an image, so the setting is adapted:

* a **line** joins two probe images of different classes, ``x(t) = (1 - t) x_i + t x_j``,
  ``t`` in [0, 1] at ``points`` evenly spaced values (normalised inputs);
* at every point the gradient ``g(t)`` of a scalar with respect to the input: by default the
  **logit of x_i's class** (the network function itself, Balduzzi's object; a linear net then
  has one constant gradient), or the cross-entropy **loss** for that class (``target="loss"``,
  which adds the softmax's own curvature);
* the **correlation** between two gradients is their Pearson correlation over the input's
  dimensions (cosine of the centred vectors); ``C(lag)`` is its mean over every pair of points
  ``lag`` steps apart and over the lines;
* the **correlation length** is the lag, as a fraction of the distance between the two images,
  at which ``C`` first falls below 1/e (linear interpolation between lags); when it never does
  along the line, it is reported as the whole line (1.0) with ``censored=True``: a lower bound.

References
----------
.. [1] D. Balduzzi, M. Frean, L. Leary, J. P. Lewis, K. W.-D. Ma, B. McWilliams, The shattered
   gradients problem: if resnets are the answer, then what is the question?, ICML, 2017.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .common import MechanismError, device_of, mode

TARGETS = ("logit", "loss")
THRESHOLD = float(np.exp(-1.0))


@dataclass(frozen=True)
class Correlation:
    lag: int  # steps between the two points
    distance: float  # lag as a fraction of the line (0..1)
    correlation: float  # mean Pearson correlation of the gradients, in [-1, 1]
    spread: float  # std of the per-line means (between lines)


@dataclass(frozen=True)
class ShatterStudy:
    lines: int
    points: int
    target: str
    length: float  # correlation length, fraction of the line
    censored: bool  # True: C never fell below 1/e, so length is a lower bound
    rows: tuple[Correlation, ...]

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([r.__dict__ for r in self.rows])
        for i, (k, v) in enumerate((("lines", self.lines), ("points", self.points), ("target", self.target),
                                    ("length", self.length), ("censored", self.censored))):
            frame.insert(i, k, v)
        return frame


def pearson_matrix(G: torch.Tensor) -> np.ndarray:
    """(P, D) gradients -> (P, P) Pearson correlations between rows (NaN for a constant row)."""
    G = G.double()
    G = G - G.mean(dim=1, keepdim=True)
    n = G.norm(dim=1)
    C = (G @ G.T) / torch.outer(n, n)
    C[~torch.isfinite(C)] = float("nan")
    return C.numpy()


def lag_curve(C: np.ndarray) -> np.ndarray:
    """Mean correlation of the pairs ``lag`` apart, for lag = 0 .. P-1, from a (P, P) matrix."""
    P = len(C)
    return np.array([np.nanmean(np.diagonal(C, offset=k)) if P - k > 0 else np.nan for k in range(P)])


def correlation_length(curve: np.ndarray, distances: np.ndarray) -> tuple[float, bool]:
    """First distance where ``curve`` falls below 1/e (linear interpolation); (last distance, True) if never.

    (NaN, False) when the curve has no finite value beyond lag 0: constant (e.g. zero) gradients have
    no correlation, which is not the same as a perfect one. NaN lags are skipped.
    """
    if not np.isfinite(np.asarray(curve[1:], dtype=float)).any():
        return float("nan"), False
    last = 0  # the last finite lag before k: lag 0, where the correlation is 1
    for k in range(1, len(curve)):
        if not np.isfinite(curve[k]):
            continue
        if curve[k] < THRESHOLD:
            c0, c1 = curve[last], curve[k]
            f = (c0 - THRESHOLD) / (c0 - c1) if c0 != c1 else 0.0
            return float(distances[last] + f * (distances[k] - distances[last])), False
        last = k
    return float(distances[-1]), True


def line_gradients(scalar: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, end: torch.Tensor,
                   points: int) -> torch.Tensor:
    """(points, D): the gradient of ``scalar`` at evenly spaced points from ``start`` to ``end`` (one batch)."""
    t = torch.linspace(0, 1, points, dtype=start.dtype).view(-1, *([1] * start.ndim))
    x = ((1 - t) * start + t * end).detach().requires_grad_(True)
    out = scalar(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad.reshape(points, -1)


def pick_lines(y: torch.Tensor, lines: int, seed: int) -> list[tuple[int, int]]:
    """``lines`` pairs (i, j) of probe images of different classes, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    yy = y.numpy()
    out = []
    for _ in range(lines * 20):
        i, j = (int(v) for v in rng.integers(0, len(yy), size=2))
        if yy[i] != yy[j]:
            out.append((i, j))
        if len(out) == lines:
            return out
    raise MechanismError("The probe set needs images of at least two classes to draw lines between.")


def shatter_study(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lines: int = 16, points: int = 64,
                  target: str = "logit", seed: int = 0,
                  progress: Callable[[float], None] | None = None) -> ShatterStudy:
    """The gradient correlation curve and correlation length of a net (eval mode) on probe lines.

    ``x``: normalised probe images (N, 3, H, W); ``y``: their labels (N,).
    """
    if target not in TARGETS:
        raise MechanismError(f"target must be one of {', '.join(TARGETS)}, got {target!r}.")
    for name, v, lo in (("lines", lines, 1), ("points", points, 3)):
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= 1024:
            raise MechanismError(f"{name} must be an integer from {lo} to 1024, got {v!r}.")
    dev = device_of(model)
    curves = []
    with mode(model, False):
        for n, (i, j) in enumerate(pick_lines(y, lines, seed)):
            cls = int(y[i])

            def scalar(inp):
                logits = model(inp.to(dev)).float()
                if target == "logit":
                    return logits[:, cls]
                return nn.functional.cross_entropy(logits, torch.full((len(inp),), cls, device=dev), reduction="none")
            G = line_gradients(scalar, x[i], x[j], points).cpu()
            curves.append(lag_curve(pearson_matrix(G)))
            if progress is not None:
                progress((n + 1) / lines)
    curves = np.array(curves)
    mean = np.nanmean(curves, axis=0)
    spread = np.nanstd(curves, axis=0)
    distances = np.arange(points) / (points - 1)
    length, censored = correlation_length(mean, distances)
    rows = tuple(Correlation(k, float(distances[k]), float(mean[k]), float(spread[k])) for k in range(points))
    return ShatterStudy(lines, points, target, length, censored, rows)
