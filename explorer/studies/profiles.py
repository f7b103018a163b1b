"""Per-block profiles: where along the depth the class information becomes usable.

The four stage outputs are too coarse to say where class information is lost or gained;
this scores the output of the stem and of every block with the separability metrics of
:mod:`explorer.separability` (defined once there, with their references) and compares
consecutive blocks with linear CKA (how much one block changes the representation).

Images are passed already normalised; the net runs in eval mode without gradients.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from .. import separability as sep
from ..analysis.features import REDUCTIONS, reduce
from .common import MechanismError, check_batch_size, check_probe, device_of, mode, stage_of, to_device
from .records import BlockProfiles, ProfileRow

PROFILE_METRICS = ("lda_accuracy", "mi_probe_bits", "fisher_trace_ratio")
_D = sep.DEFAULT_SETTINGS  # the metric parameters, defined once (explorer.separability.settings)
SETTINGS = {"p": _D.p, "folds": _D.folds, "seed": _D.seed}  # defaults of the study's signature


def block_features(model, x, *, reduction: str = "gap", batch_size: int = 128) -> dict[str, np.ndarray]:
    """Every block's output for the images, reduced: ``{"stem": (N, D), "s1.b0": ..., ...}``.

    Parameters
    ----------
    model : explorer.models.ResNet
    x : torch.Tensor, shape (N, 3, H, W)
        Normalised images.
    reduction : {"gap", "flat"}
        Global average pooling (D = C) or the whole map (D = C*H*W).
    batch_size : int

    Returns
    -------
    dict of str to float32 ndarray
        In forward order.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren, J. Sun, Deep residual learning for image recognition, CVPR, 2016.
    """
    x, _ = check_probe(model, x)
    check_batch_size(batch_size)
    if reduction not in REDUCTIONS:
        raise MechanismError(f"Unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}.")
    out: dict[str, np.ndarray] = {}
    device = device_of(model)
    with torch.no_grad(), mode(model, False):
        for start in range(0, len(x), batch_size):
            for part in model.iter_blocks(to_device(x[start:start + batch_size], device)):  # frees as it goes
                name, r = part.name, reduce(part.output, reduction).float().cpu().numpy()  # (B, D)
                if name not in out:
                    out[name] = np.empty((len(x), r.shape[1]), dtype=np.float32)
                out[name][start:start + len(r)] = r
    return out


def profile_features(feats: dict[str, np.ndarray], y, *, p: int = SETTINGS["p"], folds: int = SETTINGS["folds"],
                     seed: int = SETTINGS["seed"], reduction: str = "gap",
                     progress: Callable[[float, str], None] | None = None) -> BlockProfiles:
    """Score block features: LDA accuracy, usable information, Fisher ratio, CKA to the previous.

    Parameters
    ----------
    feats : dict of str to ndarray (N, D)
        Block name -> features, in forward order (see :func:`block_features`).
    y : array_like of int, shape (N,)
    p, folds, seed : int
        The metric settings of :mod:`explorer.separability` (PCA dimension, CV folds, fold seed).
    reduction : str
        Recorded with the result.
    progress : callable, optional
        Called with (fraction done, block name).

    Returns
    -------
    BlockProfiles
        One row per block. A metric that cannot be trusted is NaN with the reason in ``note``.

    References
    ----------
    .. [1] R. A. Fisher, The use of multiple measurements in taxonomic problems, 1936.
    .. [2] Y. Xu, S. Zhao, J. Song, R. Stewart, S. Ermon, A theory of usable information under
       computational constraints, ICLR, 2020.
    .. [3] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, Similarity of neural network
       representations revisited, ICML, 2019.
    """
    if not feats:
        raise MechanismError("No block features to score.")
    y = np.asarray(y)
    settings = dataclasses.replace(_D, p=p, folds=folds, seed=seed)  # each metric takes what it needs
    with sep.one_blas_thread():
        return _score_blocks(feats, y, settings, reduction, progress)


def _score_blocks(feats, y, settings, reduction, progress) -> BlockProfiles:
    rows, prev = [], None
    for done, (name, X) in enumerate(feats.items(), 1):
        # One isometric (n, <= n) copy: every metric (and CKA) gives the same value on it as on X.
        Z = sep.embed(X) if np.isfinite(X).all() else X
        values, notes = {}, []
        for m in PROFILE_METRICS:
            values[m], note = sep.score(m, Z, y, **settings.kwargs_for(m))
            if note:
                notes.append(f"{m}: {note}")
        cka = sep.linear_cka(prev, Z) if prev is not None else float("nan")
        rows.append(ProfileRow(name, stage_of(name), int(X.shape[1]), float(values["lda_accuracy"]),
                               float(values["mi_probe_bits"]), float(values["fisher_trace_ratio"]), float(cka),
                               "; ".join(notes)))
        prev = Z
        if progress is not None:
            progress(done / len(feats), name)
    return BlockProfiles(len(y), reduction, tuple(rows))


def block_profiles(model, x, y, *, reduction: str = "gap", batch_size: int = 128, p: int = SETTINGS["p"],
                   folds: int = SETTINGS["folds"], seed: int = SETTINGS["seed"],
                   progress: Callable[[float, str], None] | None = None) -> BlockProfiles:
    """Separability of the stem's and every block's output of the probe set.

    :func:`block_features` then :func:`profile_features`.

    Parameters
    ----------
    model : explorer.models.ResNet
    x : torch.Tensor, shape (N, 3, H, W)
        Normalised images.
    y : array_like of int, shape (N,)
    reduction : {"gap", "flat"}
    batch_size : int
    p, folds, seed : int
        Metric settings, as in :mod:`explorer.analysis.table`.
    progress : callable, optional

    Returns
    -------
    BlockProfiles

    References
    ----------
    .. [1] Y. Xu, S. Zhao, J. Song, R. Stewart, S. Ermon, A theory of usable information under
       computational constraints, ICLR, 2020.
    .. [2] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, Similarity of neural network
       representations revisited, ICML, 2019.
    """
    x, y = check_probe(model, x, y)
    feats = block_features(model, x, reduction=reduction, batch_size=batch_size)
    return profile_features(feats, y.cpu().numpy(), p=p, folds=folds, seed=seed, reduction=reduction, progress=progress)
