"""Lesion study: delete blocks of a trained net at test time and measure what is lost.

Veit et al. (2016) delete single residual blocks of a trained ResNet at test time: the
error barely moves (except at some downsampling blocks), while deleting a layer of a plain
net drops it to chance; deleting k blocks at random raises the error smoothly with k. A
deleted block keeps its skip path; the rule (and the plain blocks that cannot be deleted)
is defined once in :mod:`explorer.blocks`.

Images are passed already normalised (``explorer.data.normalize(images, mean, std)``). The
net runs in eval mode (BatchNorm with its running statistics, as at test time), without
gradients, in batches; its mode is restored afterwards.

Cost: deletion sets share every block they compute alike. The clean pass is run once;
a set whose first deleted block is i reuses the clean input of block i; a set that deletes
i and then j reuses the path of the set {i} up to j, and so on (a walk over the prefix
tree of the sorted sets). Single lesions of all L blocks cost about L/2 forward passes;
with them done, k = 1 costs nothing more and a random set of k about 1 - 2/(k+1).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from .common import MechanismError, check_batch_size, check_probe, device_of, mode, stage_of, to_device
from .records import LesionCurve, LesionCurvePoint, LesionDraw, LesionRow, LesionStudy, SingleLesions

MAX_K = 10  # the default k-curve: k = 1..10


def evaluate_lesions(model, x, y, deletions: list[Iterable[str | int]], *, batch_size: int = 128
                     ) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """Accuracy and mean cross-entropy of the net with each set of blocks deleted.

    Parameters
    ----------
    model : explorer.models.ResNet
    x : torch.Tensor, shape (N, 3, H, W)
        Normalised images.
    y : array_like of int, shape (N,)
    deletions : list of iterables of block names or indices
        Each a non-empty set of deletable blocks.
    batch_size : int
        Images per pass; bounds the memory, not the result.

    Returns
    -------
    baseline : (accuracy, loss)
        Nothing deleted.
    lesioned : list of (accuracy, loss)
        One per entry of ``deletions``; accuracy in [0, 1], loss in nats.

    Raises
    ------
    MechanismError
        For bad images, labels or batch size, or an empty deletion set.
    explorer.blocks.BlockError
        For an unknown block or one that cannot be deleted.

    References
    ----------
    .. [1] A. Veit, M. Wilber, S. Belongie, Residual networks behave like ensembles of
       relatively shallow networks, NeurIPS, 2016.
    """
    x, y = check_probe(model, x, y)
    check_batch_size(batch_size)
    sets = [tuple(sorted(model.block_indices(d))) for d in deletions]
    if any(not s for s in sets):
        raise MechanismError("Every deletion set needs at least one block.")
    todo = [(j, s) for j, s in enumerate(sets)] + [(len(sets), ())]  # the last one: nothing deleted
    correct, loss = np.zeros(len(sets) + 1), np.zeros(len(sets) + 1)
    device = device_of(model)
    with torch.no_grad(), mode(model, False):
        for start in range(0, len(x), batch_size):
            xb, yb = to_device(x[start:start + batch_size], device), y[start:start + batch_size].to(device)

            def tally(done: list[int], logits: torch.Tensor) -> None:
                hits = (logits.argmax(1) == yb).sum().item()
                nll = F.cross_entropy(logits.float(), yb, reduction="sum").item()
                for j in done:
                    correct[j] += hits
                    loss[j] += nll

            _walk(model.blocks(), model.head, model.stages[0](xb), 0, todo, tally)
    acc, nll = correct / len(x), loss / len(x)
    return (float(acc[-1]), float(nll[-1])), [(float(a), float(c)) for a, c in zip(acc[:-1], nll[:-1])]


def _walk(blocks, head, h: torch.Tensor, start: int, todo: list[tuple[int, tuple[int, ...]]], tally) -> None:
    """Run blocks ``start..`` on ``h`` for every deletion set in ``todo`` at once.

    ``todo`` holds (set id, its deletions still to come, all >= start); the sets share this
    path (their earlier deletions are the same) until their next deletion, where they
    branch off into a recursive walk from the deleted block's output. A walk over a prefix
    tree of the sorted sets: no block is run twice with the same deletions before it.
    """
    ends = [j for j, rest in todo if not rest]  # sets whose every deletion is behind: they end on this path
    branches: dict[int, list] = defaultdict(list)
    for j, rest in todo:
        if rest:
            branches[rest[0]].append((j, rest[1:]))
    last = max(branches, default=-1)
    for i in range(start, len(blocks)):
        if i in branches:
            _walk(blocks, head, blocks[i].deleted(h), i + 1, branches[i], tally)
        if not ends and i >= last:
            return  # no set needs the rest of this path
        h = blocks[i](h)  # (B, C, H, W)
    tally(ends, head(h))


def _random_sets(model, ks, draws: int, seed: int) -> list[tuple[int, int, tuple[int, ...]]]:
    """(k, draw, sorted block indices); the draws for one k depend only on (seed, k)."""
    pool = model.deletable_blocks()
    ks = list(range(1, min(MAX_K, len(pool)) + 1) if ks is None else ks)
    if not ks or any(not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= len(pool)
                     for k in ks):
        raise MechanismError(f"Each k must be an integer in 1..{len(pool)} (the deletable blocks), got {ks!r}.")
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 1:
        raise MechanismError(f"draws must be a positive integer, got {draws!r}.")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise MechanismError(f"The seed must be a non-negative integer, got {seed!r}.")
    out = []
    for k in dict.fromkeys(int(k) for k in ks):
        rng = np.random.default_rng([seed, k])
        out += [(k, d, tuple(sorted(int(i) for i in rng.choice(pool, size=k, replace=False)))) for d in range(draws)]
    return out


def _sd(v: np.ndarray) -> float:
    return float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def _curve(model, n: int, seed: int, baseline, drawn, results) -> LesionCurve:
    names = [name for name, _ in model.named_blocks()]
    rows = tuple(LesionDraw(k, d, tuple(names[i] for i in s), a, c) for (k, d, s), (a, c) in zip(drawn, results))
    points = []
    for k in dict.fromkeys(r.k for r in rows):
        acc = np.array([r.accuracy for r in rows if r.k == k])
        nll = np.array([r.loss for r in rows if r.k == k])
        points.append(LesionCurvePoint(k, len(acc), float(acc.mean()), _sd(acc), float(acc.min()), float(acc.max()),
                                       float(nll.mean()), _sd(nll)))
    return LesionCurve(n, seed, baseline[0], baseline[1], tuple(points), rows)


def _singles(model, n: int, baseline, results) -> SingleLesions:
    rows, done = [], iter(results)
    for i, (name, block) in enumerate(model.named_blocks()):
        acc, nll = next(done) if block.deletable else (float("nan"), float("nan"))
        rows.append(LesionRow(name, i, stage_of(name), block.shortcut_kind, block.deletable, acc, nll))
    return SingleLesions(n, baseline[0], baseline[1], tuple(rows))


def single_lesions(model, x, y, *, batch_size: int = 128) -> SingleLesions:
    """Accuracy and loss of the net with each single block deleted.

    Plain blocks that change shape cannot be deleted: their rows have ``deletable=False``
    and NaN accuracy and loss.

    Parameters
    ----------
    model : explorer.models.ResNet
    x : torch.Tensor, shape (N, 3, H, W)
        Normalised images.
    y : array_like of int, shape (N,)
    batch_size : int

    Returns
    -------
    SingleLesions
        One row per block, in forward order, and the baseline.

    References
    ----------
    .. [1] A. Veit, M. Wilber, S. Belongie, Residual networks behave like ensembles of
       relatively shallow networks, NeurIPS, 2016 (section 4.1, Fig. 3).
    """
    x, y = check_probe(model, x, y)
    baseline, results = evaluate_lesions(model, x, y, [[i] for i in model.deletable_blocks()], batch_size=batch_size)
    return _singles(model, len(x), baseline, results)


def lesion_curve(model, x, y, ks: Iterable[int] | None = None, *, draws: int = 3, seed: int = 0,
                 batch_size: int = 128) -> LesionCurve:
    """Accuracy vs k, the number of blocks deleted at random (``draws`` sets per k).

    The k blocks are drawn without replacement from the deletable ones by
    ``numpy.random.default_rng([seed, k])``: the same seed gives the same sets, and the
    sets for one k do not depend on which other k are asked for.

    Parameters
    ----------
    model : explorer.models.ResNet
    x : torch.Tensor, shape (N, 3, H, W)
        Normalised images.
    y : array_like of int, shape (N,)
    ks : iterable of int, optional
        Numbers of blocks to delete, each in 1..(number of deletable blocks); by default
        1..10 (fewer where the net has fewer deletable blocks).
    draws : int
        Random sets per k.
    seed : int
    batch_size : int

    Returns
    -------
    LesionCurve
        Mean, spread (sample std, min, max) per k, and every draw.

    References
    ----------
    .. [1] A. Veit, M. Wilber, S. Belongie, Residual networks behave like ensembles of
       relatively shallow networks, NeurIPS, 2016 (section 4.2, Fig. 5).
    """
    x, y = check_probe(model, x, y)
    drawn = _random_sets(model, ks, draws, seed)
    baseline, results = evaluate_lesions(model, x, y, [s for _, _, s in drawn], batch_size=batch_size)
    return _curve(model, len(x), seed, baseline, drawn, results)


def lesion_study(model, x, y, ks: Iterable[int] | None = None, *, draws: int = 3, seed: int = 0,
                 batch_size: int = 128) -> LesionStudy:
    """:func:`single_lesions` and :func:`lesion_curve` from one shared clean pass.

    Parameters and results as for the two functions; the values are the same as theirs.

    References
    ----------
    .. [1] A. Veit, M. Wilber, S. Belongie, Residual networks behave like ensembles of
       relatively shallow networks, NeurIPS, 2016.
    """
    x, y = check_probe(model, x, y)
    singles = [[i] for i in model.deletable_blocks()]
    drawn = _random_sets(model, ks, draws, seed)
    baseline, results = evaluate_lesions(model, x, y, singles + [s for _, _, s in drawn], batch_size=batch_size)
    return LesionStudy(_singles(model, len(x), baseline, results[:len(singles)]),
                       _curve(model, len(x), seed, baseline, drawn, results[len(singles):]))
