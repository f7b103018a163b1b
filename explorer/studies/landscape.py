"""Loss-landscape slices: the loss along lines and planes in weight space around a net.

Three views of one run (Li et al. 2018; Goodfellow et al. 2015):

* ``line``: the straight line ``theta(a) = theta_0 + a (theta_1 - theta_0)`` from the initial
  weights (``a = 0``, rebuilt from the run's seed) to the trained ones (``a = 1``). Every
  floating tensor of the state moves, BatchNorm's running statistics included, so that both
  ends are exactly the two nets; evaluated in eval mode. ``a`` stays in [0, 1]: outside it the
  linearly interpolated running variance of BatchNorm turns negative.
* ``1d`` and ``2d``: ``theta + a d_1 (+ b d_2)`` around the trained weights along random
  **filter-normalised** directions: each direction has the weights' shape, is drawn from
  N(0, 1), and each of its filters (one output channel of a conv, one output row of the linear
  layer) is rescaled to the norm of the same filter of the weights, so that a step means the
  same relative change in every layer whatever its scale (the invariance of ReLU nets, and of
  BatchNorm nets, to a filter's scale makes unnormalised directions misleading; Li et al.,
  section 4). Biases, BatchNorm's affine parameters, and the scalars of SkipInit and Fixup
  (every tensor of one dimension or less) are not moved (direction 0), as in Li et al.
* **BatchNorm statistics** stay the trained running statistics (eval mode) at every point: the
  slice is the loss of the deployed net with its weights moved. Recomputing the statistics at
  every point on the evaluation images would turn each point into a differently normalised
  net, a re-normalisation that hides part of what the direction changed.

``a = 0`` (``a = b = 0``) is the run's own net: its loss there is the run's loss on those images.

References
----------
.. [1] H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, Visualizing the loss landscape of
   neural nets, NeurIPS, 2018.
.. [2] I. Goodfellow, O. Vinyals, A. Saxe, Qualitatively characterizing neural network
   optimization problems, ICLR, 2015.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .common import MechanismError

Evaluate = Callable[[nn.Module], tuple[float, float]]  # net -> (mean loss, accuracy)
TOLERANCE = 0.01  # nonconvex_fraction: negative curvature counts from 1% of the largest curvature at that point


@dataclass(frozen=True)
class SlicePoint:
    view: str  # line | 1d | 2d
    a: float  # step along the first direction (the line: 0 = init, 1 = trained)
    b: float  # step along the second direction (0 for line and 1d)
    loss: float  # mean cross-entropy on the evaluation images, nats
    accuracy: float  # fraction correct, in [0, 1]


def movable(model: nn.Module) -> set[str]:
    """The tensors a random direction moves: the weights of convs and the linear layer (2+ dims)."""
    return {name for name, p in model.named_parameters() if p.ndim > 1}


def filter_normalized_direction(params: dict[str, torch.Tensor], generator: torch.Generator,
                                moved: set[str]) -> dict[str, torch.Tensor]:
    """A random direction with ``params``' shapes; every filter rescaled to the norm of the weights' filter.

    ``params``: name -> tensor (``model.state_dict()``); ``moved``: the names it moves (see
    :func:`movable`); every other tensor gets zeros. A filter of zero norm stays zero (a dead
    filter is not moved).
    """
    out = {}
    for name, w in params.items():
        if name not in moved:
            out[name] = torch.zeros_like(w) if w.is_floating_point() else w.clone()
            continue
        d = torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w.dtype)
        shape = (-1,) + (1,) * (w.ndim - 1)
        scale = w.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-12)
        out[name] = d * scale.view(shape)
    return out


def _set(model: nn.Module, base: dict, dirs: list[tuple[float, dict]]) -> None:
    """Load ``base + sum(step * direction)`` into ``model`` (integer buffers stay as in base)."""
    state = {}
    for name, t in base.items():
        if t.is_floating_point():
            v = t.clone()
            for step, d in dirs:
                if step:
                    v.add_(d[name], alpha=step)
            state[name] = v
        else:
            state[name] = t
    model.load_state_dict(state)


def grid(lo: float, hi: float, points: int, odd: bool = False) -> np.ndarray:
    """``points`` evenly spaced steps from lo to hi; ``odd``: an odd count, so that a symmetric grid holds 0."""
    if not isinstance(points, int) or isinstance(points, bool) or not 2 <= points <= 101 or (odd and points % 2 == 0):
        what = "an odd number of points from 3 to 101 a direction (so that the trained weights lie on it)" if odd \
            else "2 to 101 points a direction"
        raise MechanismError(f"A slice needs {what}, got {points!r}.")
    return np.round(np.linspace(lo, hi, points), 10)


def slice_points(model: nn.Module, evaluate: Evaluate, view: str, *, points: int = 21, span: float = 1.0,
                 init_state: dict | None = None, seed: int = 0,
                 progress: Callable[[float], None] | None = None) -> list[SlicePoint]:
    """The loss and accuracy at every point of one view (see the module doc); the model is restored after.

    Parameters
    ----------
    model : nn.Module
        The trained net (any module whose state_dict holds its weights).
    evaluate : callable
        net -> (mean loss, accuracy) on the evaluation images.
    view : str
        ``line`` (needs ``init_state``), ``1d`` or ``2d``.
    points : int
        Points a direction (2 to 101); ``2d`` evaluates points x points.
    span : float
        Random directions: steps in [-span, span]. The line: a in [0, 1] whatever the span.
    seed : int
        Seed of the random directions (the second direction is the next draw of the same generator).
    """
    base = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if view == "line":
        if init_state is None:
            raise MechanismError("The init-to-trained line needs the run's initial weights.")
        if set(init_state) != set(base):
            raise MechanismError("The initial weights do not have the trained net's tensors.")
        # from the initial state towards the trained one (_set moves floating tensors only, integer buffers as trained)
        origin = {k: init_state[k] if base[k].is_floating_point() else base[k] for k in base}
        dirs = [{k: base[k] - init_state[k] for k in base if base[k].is_floating_point()}]
        coords = [(a, 0.0) for a in grid(0.0, 1.0, points)]  # no extrapolation: see the module doc
    elif view in ("1d", "2d"):
        g, names = torch.Generator().manual_seed(seed), movable(model)
        dirs = [filter_normalized_direction(base, g, names)]
        if view == "2d":
            dirs.append(filter_normalized_direction(base, g, names))
        steps = grid(-span, span, points, odd=True)
        coords = [(a, b) for b in (steps if view == "2d" else [0.0]) for a in steps]
        origin = base
    else:
        raise MechanismError(f"Unknown view {view!r}; expected line, 1d or 2d.")
    out = []
    try:
        for i, (a, b) in enumerate(coords):
            _set(model, origin, list(zip((a, b), dirs)))
            loss, acc = evaluate(model)
            out.append(SlicePoint(view, float(a), float(b), float(loss), float(acc)))
            if progress is not None:
                progress((i + 1) / len(coords))
    finally:
        model.load_state_dict(base)
    return out


def batch_evaluator(x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> Evaluate:
    """net -> (mean cross-entropy, accuracy) over ``x`` (normalised images) and ``y``, in eval mode."""
    from .common import device_of, mode, to_device

    @torch.no_grad()
    def evaluate(model: nn.Module) -> tuple[float, float]:
        dev = device_of(model)
        loss, correct = 0.0, 0
        with mode(model, False):
            for i in range(0, len(x), batch_size):
                logits = model(to_device(x[i:i + batch_size], dev)).float()
                yb = y[i:i + batch_size].to(dev)
                loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
                correct += int((logits.argmax(1) == yb).sum())
        return loss / len(x), correct / len(x)
    return evaluate


def to_frame(points: list[SlicePoint]) -> pd.DataFrame:
    return pd.DataFrame([p.__dict__ for p in points])


def wiggle(frame: pd.DataFrame, view: str = "1d") -> float:
    """How far a 1-D slice is from a single valley: total variation of the loss over the least a single valley needs.

    ``TV = sum |L(a_i+1) - L(a_i)|``; a curve that only falls to its minimum and then only rises
    has ``TV = (L(first) - L(min)) + (L(last) - L(min))``, so the ratio is 1 for one valley (a
    bowl, whatever its width) and grows with every extra rise and fall. Unitless, >= 1;
    descriptive, on one direction. NaN unless every point is finite (at least 3), and for a flat slice.
    """
    one = frame[frame["view"] == view].sort_values("a")
    loss = one["loss"].to_numpy(float)
    if len(loss) < 3 or not np.isfinite(loss).all():
        return float("nan")
    least = (loss[0] - loss.min()) + (loss[-1] - loss.min())
    tv = float(np.abs(np.diff(loss)).sum())
    return tv / least if least > 0 else float("nan")


def nonconvex_fraction(frame: pd.DataFrame) -> float:
    """Fraction of the 2-D slice's interior points where it curves down in some direction.

    At each interior grid point the 2 x 2 Hessian of the loss is estimated by central
    differences; the point counts when its smaller eigenvalue is negative by more than
    ``TOLERANCE`` times the larger one's magnitude (the surface curves down there by at least
    1% of how it curves up; Li et al. 2018 map the ratio |lambda_min / lambda_max|) and by more
    than a rounding floor, so that noise on a flat stretch does not count. 0 for a convex bowl; in [0, 1]; NaN without
    a 2-D slice of at least 3 x 3 finite points.
    """
    two = frame[frame["view"] == "2d"]
    if two.empty:
        return float("nan")
    Z = two.pivot_table(index="b", columns="a", values="loss").sort_index().sort_index(axis=1)
    L, a, b = Z.to_numpy(float), Z.columns.to_numpy(float), Z.index.to_numpy(float)
    if min(L.shape) < 3 or not np.isfinite(L).all():
        return float("nan")
    ha, hb = a[1] - a[0], b[1] - b[0]
    faa = (L[1:-1, 2:] - 2 * L[1:-1, 1:-1] + L[1:-1, :-2]) / ha ** 2
    fbb = (L[2:, 1:-1] - 2 * L[1:-1, 1:-1] + L[:-2, 1:-1]) / hb ** 2
    fab = (L[2:, 2:] - L[2:, :-2] - L[:-2, 2:] + L[:-2, :-2]) / (4 * ha * hb)
    root = np.sqrt(((faa - fbb) / 2) ** 2 + fab ** 2)
    smaller, larger = (faa + fbb) / 2 - root, (faa + fbb) / 2 + root
    # rounding floor: 1e-5 of the largest loss over h^2, 100x what float32 passes can resolve in a second difference
    floor = 1e-5 * float(np.abs(L).max()) / min(ha, hb) ** 2
    scale = np.maximum(np.maximum(np.abs(larger), np.abs(smaller)), floor)
    return float(np.mean(smaller < -TOLERANCE * scale))
