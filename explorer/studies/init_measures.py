"""Measures of a freshly initialised net (no training), over many initialisation seeds.

For one (spec, seed) the net is rebuilt with :func:`explorer.models.init_model` and measured on
a batch of normalised probe images ``x`` (N, 3, 32, 32) with labels ``y``. BatchNorm normalises
with the **batch's own statistics**, as in the first training step (a fresh net's running
statistics, (0, 1), would make every BN an identity):

* **gradient ratio** ``||dL/dh_first|| / ||dL/dh_last||``: norms of the gradient of the mean
  cross-entropy over the batch with respect to the output of the first block (``s1.b0``) and of
  the last block, from one pass in train mode (so the gradient also flows through the batch
  statistics, as in training). > 1: the gradient grows towards the input (exploding); < 1: it
  vanishes. ``log10_grad_ratio`` is its log10. The two tensors differ in shape (16 x 32 x 32 vs
  64 x 8 x 8 a image in the cifar family); the norms are over the whole batch's tensor.
* **stable rank** ``||H||_F^2 / ||H||_2^2`` of the last block's output ``H`` (N x C*H*W),
  centred over the batch (the mean image's representation removed first), from the same pass
  (:func:`explorer.studies.signal.stable_rank`; Daneshmand et al. 2020).
* **shattering** (Balduzzi et al. 2017) as :mod:`explorer.studies.shatter` defines it: the
  input gradient of the logit of the first image's class at ``points`` points along ``lines``
  lines between probe images of different classes, the Pearson correlation of two points'
  gradients averaged by lag; ``lag1`` is its value at one step (1 / (points - 1) of the line),
  ``corr_length`` the fraction of the line where it first falls below 1/e (``corr_censored``
  1 when it never does: a lower bound). Each point must be a function of its own input only, so
  here BatchNorm uses the probe batch's statistics *frozen* (computed once on all of ``x``, then
  eval mode along the lines: :func:`batch_frozen`).
* **Var(branch) / Var(block input)** for every residual block (average channel variances,
  :func:`explorer.studies.signal.channel_var`, the branch after its last BN, before the
  addition): De & Smith (2020) show that with BatchNorm the skip path's variance grows by about
  one a block while the normalised branch keeps variance about 1, so the ratio falls like
  ``1 / (block index + 1)`` (the branch's std like ``1/sqrt``) and deep blocks start close to the
  identity; without BatchNorm branch and skip grow together and the ratio does not fall with depth (about 2
  in the shipped sweep, a constant, not 1). Plain blocks have no branch/skip split and
  report none. ``branch_var_ratio_mean`` is its mean over the residual blocks.

References
----------
.. [1] D. Balduzzi, M. Frean, L. Leary, J. P. Lewis, K. W.-D. Ma, B. McWilliams, The shattered
   gradients problem: if resnets are the answer, then what is the question?, ICML, 2017.
.. [2] S. De, S. L. Smith, Batch normalization biases residual blocks towards the identity
   function in deep networks, NeurIPS, 2020.
.. [3] H. Daneshmand, J. Kohler, F. Bach, T. Hofmann, A. Lucchi, Batch normalization provably
   avoids rank collapse for randomly initialised deep networks, NeurIPS, 2020.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelSpec, init_model, parse_model_name
from ..separability import one_blas_thread
from .common import MechanismError, check_probe, device_of, mode, to_device
from .shatter import shatter_study
from .signal import channel_var, stable_rank

DEPTHS = (8, 14, 20, 32, 44, 56, 110)
VARIANTS = ((False, True), (True, True), (False, False), (True, False))  # (residual, batchnorm)
SEEDS = tuple(range(20))
LINES, POINTS = 8, 32  # shattering: lines between probe images, points a line
COLUMNS = ("depth", "residual", "batchnorm", "seed", "measure", "block", "value")
MEASURES = ("grad_ratio", "log10_grad_ratio", "stable_rank", "lag1", "corr_length", "corr_censored",
            "branch_var_ratio", "branch_var_ratio_mean", "loss")
POSITIVE = ("grad_ratio", "stable_rank", "corr_length", "branch_var_ratio", "branch_var_ratio_mean", "loss")


@dataclass(frozen=True)
class Propagation:
    """The forward-and-backward measures of one net on one batch (train-mode BatchNorm)."""

    loss: float  # mean cross-entropy, nats
    grad_first: float  # ||dL/dh|| at the first block's output
    grad_last: float  # ||dL/dh|| at the last block's output
    stable_rank: float  # centred, of the last block's output
    branch_ratios: tuple[float, ...]  # Var(branch) / Var(block input), one a residual block; () for a plain net

    @property
    def grad_ratio(self) -> float:
        r = self.grad_first / self.grad_last if self.grad_last > 0 else float("nan")
        return float(r) if np.isfinite(r) else float("nan")


@dataclass(frozen=True)
class InitMeasures:
    depth: int
    residual: bool
    batchnorm: bool
    seed: int
    propagation: Propagation
    lag1: float  # gradient correlation one step apart on the lines
    corr_length: float  # fraction of the line
    corr_censored: bool

    def rows(self) -> list[dict]:
        """Tidy rows (see :data:`COLUMNS`); block -1 for a whole-net measure, the block index otherwise."""
        p = self.propagation
        ratio = p.grad_ratio
        values = {"grad_ratio": ratio, "log10_grad_ratio": float(np.log10(ratio)) if ratio > 0 else float("nan"),
                  "stable_rank": p.stable_rank, "lag1": self.lag1, "corr_length": self.corr_length,
                  "corr_censored": float(self.corr_censored), "loss": p.loss}
        if p.branch_ratios:
            values["branch_var_ratio_mean"] = float(np.mean(p.branch_ratios))
        key = {"depth": self.depth, "residual": self.residual, "batchnorm": self.batchnorm, "seed": self.seed}
        out = [{**key, "measure": m, "block": -1, "value": float(v)} for m, v in values.items()]
        out += [{**key, "measure": "branch_var_ratio", "block": i, "value": float(v)}
                for i, v in enumerate(p.branch_ratios)]
        return out


def _finite(v: float) -> float:
    return float(v) if np.isfinite(v) else float("nan")


def _norm(t: torch.Tensor) -> float:
    return _finite(float(t.detach().double().norm()))


def propagation(model, x: torch.Tensor, y: torch.Tensor) -> Propagation:
    """Loss, gradient norms at the first and last block, stable rank and branch ratios (module doc).

    One forward and one backward pass over the whole batch in train mode, on a copy of ``model``
    (train mode would move the caller's running statistics). Non-finite values give NaN.
    """
    x, y = check_probe(model, x, y)
    net = copy.deepcopy(model).to(memory_format=torch.channels_last)  # NHWC: oneDNN convolves it faster
    ratios, first, last = [], None, None
    with torch.enable_grad(), mode(net, True):
        h_in = None
        for part in net.iter_blocks(to_device(x.detach(), device_of(net))):
            if part.branch is not None and part.shortcut is not None:  # a residual block
                ratios.append(_finite(channel_var(part.branch) / channel_var(h_in)))
            if part.name != "stem" and first is None:
                first = part.output
            h_in = last = part.output
            del part
        if first is None:
            raise MechanismError("The net has no block after its stem.")
        loss = F.cross_entropy(net.head(last).float(), y)
        g_first, g_last = torch.autograd.grad(loss, [first, last])
    with one_blas_thread():  # its n x n eigenproblem: one thread beats two beside torch's
        rank = stable_rank(last.detach().double(), centred=True)  # double: no-BN nets reach 1e16 variances
    return Propagation(_finite(float(loss.detach())), _norm(g_first), _norm(g_last), _finite(rank), tuple(ratios))


def batch_frozen(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` in eval mode whose BatchNorm running statistics are those of the batch ``x``.

    Every BN forgets its statistics and takes the cumulative average over one pass (momentum
    None), i.e. exactly ``x``'s mean and variance (the stored unbiased variance turned back into
    the biased one that train mode normalises with); eval mode then normalises any input with
    them, so each image's output depends on that image alone, and on ``x`` itself the net computes
    what train mode computes.
    """
    net = copy.deepcopy(model).to(memory_format=torch.channels_last)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    counts: dict[nn.Module, int] = {}
    hooks = [bn.register_forward_hook(lambda m, inp, out: counts.__setitem__(m, inp[0].numel() // inp[0].shape[1]))
             for bn in norms]
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
        if norms:
            with torch.no_grad(), mode(net, True):
                net(to_device(x, device_of(net)))
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        for bn in norms:  # the unbiased variance stored -> the biased one train mode normalised with
            m = counts[bn]
            bn.running_var.mul_((m - 1) / m)
    return net.eval()


def shattering(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lines: int = LINES, points: int = POINTS,
               seed: int = 0) -> tuple[float, float, bool]:
    """(lag-1 correlation, correlation length, censored) of the logit's input gradients along probe lines.

    :func:`explorer.studies.shatter.shatter_study` on :func:`batch_frozen` (``model``, ``x``).
    """
    sh = shatter_study(batch_frozen(model, x), x, y, lines=lines, points=points, target="logit", seed=seed)
    return sh.rows[1].correlation, sh.length, sh.censored


def init_measures(spec: ModelSpec | str, seed: int, x, y, *, lines: int = LINES, points: int = POINTS,
                  line_seed: int = 0) -> InitMeasures:
    """Every measure of the module doc for the net ``spec`` initialised with ``seed``.

    ``line_seed`` picks the shattering lines; keep it fixed across nets so that every net is
    measured on the same lines and only the initialisation varies. torch's global generator is
    restored afterwards.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise MechanismError(f"The seed must be an integer, got {seed!r}.")
    with torch.random.fork_rng():
        model = init_model(spec, seed)
    x, y = check_probe(model, x, y)
    prop = propagation(model, x, y)
    lag1, length, censored = shattering(model, x, y, lines=lines, points=points, seed=line_seed)
    s = model.spec
    return InitMeasures(s.depth, s.residual, s.batchnorm, seed, prop, lag1, length, censored)


def sweep_spec(depth: int, residual: bool, batchnorm: bool) -> ModelSpec:
    """The cifar-family net of this depth (6n+2) and variant."""
    return parse_model_name(f"cifar-resnet{depth}", residual=residual, batchnorm=batchnorm)


def init_sweep(depths: Iterable[int], variants: Iterable[tuple[bool, bool]], seeds: Iterable[int], x, y,
               progress: Callable[[float], None] | None = None, *, lines: int = LINES,
               points: int = POINTS) -> pd.DataFrame:
    """:func:`init_measures` over depths x variants ((residual, batchnorm) pairs) x seeds: a tidy table.

    Defaults to pass: :data:`DEPTHS`, :data:`VARIANTS`, :data:`SEEDS`. Columns :data:`COLUMNS`;
    ``progress(fraction done)`` after every net.
    """
    grid = [(d, r, b, s) for d in depths for r, b in variants for s in seeds]
    if not grid:
        raise MechanismError("The sweep needs at least one depth, one variant and one seed.")
    specs = {(d, r, b): sweep_spec(d, r, b) for d, r, b, _ in grid}  # a bad depth fails before any work
    rows = []
    for k, (d, r, b, s) in enumerate(grid):
        rows += init_measures(specs[d, r, b], s, x, y, lines=lines, points=points).rows()
        if progress is not None:
            progress((k + 1) / len(grid))
    return pd.DataFrame(rows, columns=list(COLUMNS))
