"""Signal propagation: how each block scales, mixes and passes back the signal.

Per block, from one forward and one backward pass over the whole batch:

* the std of the branch output (after the last BN, before the addition; He et al. 2016,
  Fig. 7, plot this for every 3x3 layer) and of the block output;
* Var(branch) / Var(shortcut) for residual blocks: small, and shrinking with depth, when
  BatchNorm biases residual blocks towards the identity at initialisation (De & Smith 2020);
* the stable rank of the block output, which falls towards 1 when the representations of
  the batch collapse to one direction with depth (Daneshmand et al. 2020);
* the norm of the loss gradient with respect to the block output.

Variances are *average channel variances* (the variance over images and positions of each
channel, averaged over channels), as in signal propagation plots (Brock et al. 2021); a
"std" is its square root. An option-A shortcut's zero-padded channels count, with variance 0.

BatchNorm statistics: ``bn_stats="running"`` evaluates the net as at test time (eval mode);
``"batch"`` normalises with the batch's own statistics, as a training step does, on a copy
of the net so that no running statistic of the caller's net changes. A fresh net's running
statistics are (0, 1), which makes BN an identity; at initialisation use ``"batch"``.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..models import ModelSpec, init_model
from ..separability import one_blas_thread
from ..separability.linalg import top_eig
from .common import MechanismError, check_probe, device_of, mode, stage_of, to_device
from .records import SignalProfile, SignalRow

BN_STATS = ("running", "batch")


def stable_rank(H, centred: bool = False) -> float:
    """Stable rank ``||H||_F^2 / ||H||_2^2`` of the (n, d) matrix of a batch's representations.

    Each row is one image's representation, flattened (an (n, C, H, W) tensor is taken as
    (n, C*H*W)). Computed from the n x n Gram matrix H H^T, whose trace is ||H||_F^2 and
    whose largest eigenvalue is ||H||_2^2, so its cost is O(n^2 d) time and O(n^2) memory.

    Parameters
    ----------
    H : torch.Tensor or ndarray, shape (n, ...)
    centred : bool
        Subtract the mean row first (the Gram matrix is double-centred). Uncentred, a batch
        of ReLU outputs shares a large mean direction; centred, only the differences between
        images count.

    Returns
    -------
    float
        In [1, rank(H)]: r for a matrix with r equal non-zero singular values; NaN for a
        zero or non-finite H.

    References
    ----------
    .. [1] M. Rudelson, R. Vershynin, Sampling from large matrices: an approach through
       geometric functional analysis, Journal of the ACM 54(4), 2007.
    .. [2] H. Daneshmand, J. Kohler, F. Bach, T. Hofmann, A. Lucchi, Batch normalization
       provably avoids rank collapse for randomly initialised deep networks, NeurIPS, 2020.
    """
    return _stable_ranks(H)[1 if centred else 0]


def _stable_ranks(H) -> tuple[float, float]:
    """(uncentred, centred) stable rank from one Gram matrix."""
    H = torch.as_tensor(H)
    if H.ndim < 2 or len(H) < 1:
        raise MechanismError(f"A stable rank needs an (n, d) matrix, got shape {tuple(H.shape)}.")
    H = H.detach().flatten(1)  # (n, d)
    if not H.is_floating_point():
        H = H.double()
    if not torch.isfinite(H).all():
        return float("nan"), float("nan")
    G = (H @ H.T).double().cpu().numpy()  # (n, n)
    Gc = G - G.mean(0, keepdims=True) - G.mean(1, keepdims=True) + G.mean()  # J G J, J = I - 11^T/n

    def ratio(M: np.ndarray) -> float:
        top = _top_eigenvalue(M)
        return float(np.trace(M)) / top if top > 0 else float("nan")

    return ratio(G), ratio(Gc)


def _top_eigenvalue(M: np.ndarray) -> float:
    """The largest eigenvalue of a symmetric PSD matrix (Lanczos for the large n x n Gram matrices here,
    see :func:`explorer.separability.linalg.top_eig`); 0 for a matrix with no positive eigenvalue."""
    lam, _ = top_eig(M, 1)
    return float(lam[0]) if len(lam) else 0.0


def channel_var(t: torch.Tensor) -> float:
    """Average channel variance of (N, C, H, W): each channel's variance over N, H, W, averaged.

    References
    ----------
    .. [1] A. Brock, S. De, S. L. Smith, Characterizing signal propagation to close the
       performance gap in unnormalized ResNets, ICLR, 2021.
    """
    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16):  # their range overflows in the squares
        t = t.float()
    var, _ = torch.var_mean(t, dim=[d for d in range(t.ndim) if d != 1], correction=0)  # (C,)
    return float(var.double().mean())


def _sqrt(v: float) -> float:
    return float(np.sqrt(v)) if np.isfinite(v) else float("nan")


def signal_profile(model, x, y, *, bn_stats: str = "running", weights: str = "trained") -> SignalProfile:
    """Signal propagation through the stem and every block of ``model`` on one batch.

    One forward pass over the whole batch (the stable rank needs all n images at once) and
    one backward pass of the mean cross-entropy; its memory is that of a training step
    with batch size n.

    Parameters
    ----------
    model : explorer.models.ResNet
    x : torch.Tensor, shape (N, 3, H, W)
        Normalised images.
    y : array_like of int, shape (N,)
    bn_stats : {"running", "batch"}
        BatchNorm's statistics (see the module doc); the caller's net is left unchanged.
    weights : str
        A label recorded with the result ("trained", "init", ...).

    Returns
    -------
    SignalProfile
        One row per block (the stem first). ``var_ratio`` is NaN for plain blocks, the
        branch quantities NaN for the stem; non-finite activations give NaN, not errors.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren, J. Sun, Deep residual learning for image recognition,
       CVPR, 2016 (Fig. 7).
    .. [2] S. De, S. L. Smith, Batch normalization biases residual blocks towards the
       identity function in deep networks, NeurIPS, 2020.
    .. [3] H. Daneshmand, J. Kohler, F. Bach, T. Hofmann, A. Lucchi, Batch normalization
       provably avoids rank collapse for randomly initialised deep networks, NeurIPS, 2020.
    """
    x, y = check_probe(model, x, y)
    if bn_stats not in BN_STATS:
        raise MechanismError(f"bn_stats must be one of {', '.join(BN_STATS)}, got {bn_stats!r}.")
    net = copy.deepcopy(model) if bn_stats == "batch" else model  # batch statistics update running ones
    device = device_of(net)
    x, y = to_device(x, device), y.to(device)
    stats, outputs = [], []
    with torch.enable_grad(), mode(net, bn_stats == "batch"):
        # A leaf that needs a gradient: the block outputs are in the graph even with frozen weights.
        for part in net.iter_blocks(x.detach().requires_grad_(True)):
            out = part.output
            if part.branch is None:  # the stem
                branch_var = ratio = float("nan")
            else:
                branch_var = channel_var(part.branch)
                ratio = branch_var / channel_var(part.shortcut) if part.shortcut is not None else float("nan")
            with one_blas_thread():  # its n x n eigenproblems: one thread beats two beside torch's
                ranks = _stable_ranks(out)
            stats.append((part.name, _sqrt(branch_var), _sqrt(channel_var(out)), ratio, *ranks))
            outputs.append(out)
            del part  # the branch and shortcut tensors are not needed any more
        loss = F.cross_entropy(net.head(outputs[-1]).float(), y)
        grads = torch.autograd.grad(loss, outputs)
    kinds = {name: b.shortcut_kind for name, b in net.named_blocks()}
    rows = tuple(SignalRow(name, stage_of(name), kinds.get(name, ""), bstd, ostd, float(ratio), sr, src,
                           float(g.detach().double().norm()))
                 for (name, bstd, ostd, ratio, sr, src), g in zip(stats, grads))
    return SignalProfile(weights, bn_stats, len(x), float(loss.detach()), rows)


def signal_at_init(spec: ModelSpec | str, seed: int, x, y, *, bn_stats: str = "batch",
                   device: str | torch.device = "cpu") -> SignalProfile:
    """:func:`signal_profile` of a run's initial weights (:func:`explorer.models.init_model`).

    The weights are rebuilt bit for bit from the spec and the run's seed; torch's global
    generator is restored afterwards.

    Parameters
    ----------
    spec : ModelSpec or str
    seed : int
        The run's training seed.
    x, y
        As for :func:`signal_profile`.
    bn_stats : {"batch", "running"}
        "batch" by default: a fresh net's running statistics would make BN an identity.
    device : str or torch.device

    Returns
    -------
    SignalProfile
        With ``weights="init"``.

    References
    ----------
    .. [1] S. De, S. L. Smith, Batch normalization biases residual blocks towards the
       identity function in deep networks, NeurIPS, 2020.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise MechanismError(f"The seed must be an integer, got {seed!r}.")
    with torch.random.fork_rng():
        model = init_model(spec, seed)
    return signal_profile(model.to(device), x, y, bn_stats=bn_stats, weights="init")
