"""Typed results of the mechanism studies; each turns into a tidy DataFrame for CSV.

A result is a frozen dataclass that holds its settings (n, seed, ...) and a tuple of rows
(one per block, or one per number of deleted blocks); ``to_frame()`` gives one DataFrame
row per row record, with the settings repeated as columns.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import pandas as pd


def tidy(rows: tuple, **settings) -> pd.DataFrame:
    """Rows of one dataclass type -> DataFrame; ``settings`` become constant leading columns."""
    frame = pd.DataFrame([asdict(r) for r in rows])
    if not rows:
        return frame
    for i, (key, value) in enumerate(settings.items()):
        frame.insert(i, key, [value] * len(frame))
    return frame


def _settings(record, skip: tuple[str, ...]) -> dict:
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in skip}


# ----------------------------------------------------------------------------- lesions
@dataclass(frozen=True)
class LesionRow:
    """The net with one block deleted; ``deletable=False`` rows carry NaN."""

    block: str  # "s1.b0", ...
    index: int  # position among the blocks, 0 = s1.b0
    stage: str  # "stage1", ...
    shortcut: str  # identity | pad | projection | none (plain block)
    deletable: bool
    accuracy: float  # fraction of the images classified correctly, in [0, 1]
    loss: float  # mean cross-entropy, nats


@dataclass(frozen=True)
class SingleLesions:
    """Accuracy and loss with each single block deleted (Veit et al. 2016, Fig. 3)."""

    n: int  # images
    baseline_accuracy: float  # nothing deleted
    baseline_loss: float
    rows: tuple[LesionRow, ...]

    def to_frame(self) -> pd.DataFrame:
        return tidy(self.rows, **_settings(self, ("rows",)))


@dataclass(frozen=True)
class LesionDraw:
    """One random set of k deleted blocks."""

    k: int
    draw: int  # 0, 1, ... within this k
    deleted: tuple[str, ...]  # block names, in forward order
    accuracy: float
    loss: float


@dataclass(frozen=True)
class LesionCurvePoint:
    """Accuracy over the draws with k blocks deleted at random."""

    k: int
    draws: int
    accuracy_mean: float
    accuracy_std: float  # sample std over the draws (ddof=1); NaN for a single draw
    accuracy_min: float
    accuracy_max: float
    loss_mean: float
    loss_std: float


@dataclass(frozen=True)
class LesionCurve:
    """Accuracy vs the number of blocks deleted at random (Veit et al. 2016, Fig. 5)."""

    n: int
    seed: int
    baseline_accuracy: float
    baseline_loss: float
    points: tuple[LesionCurvePoint, ...]
    draws: tuple[LesionDraw, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per k."""
        return tidy(self.points, **_settings(self, ("points", "draws")))

    def draws_frame(self) -> pd.DataFrame:
        """One row per draw; ``deleted`` as space-separated block names."""
        rows = tuple(LesionDraw(d.k, d.draw, " ".join(d.deleted), d.accuracy, d.loss) for d in self.draws)
        return tidy(rows, n=self.n, seed=self.seed)


@dataclass(frozen=True)
class LesionStudy:
    """Both lesion studies from one clean pass."""

    singles: SingleLesions
    curve: LesionCurve


# ----------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class ProfileRow:
    """Separability of one block's output (the metrics of ``explorer.separability``)."""

    block: str  # "stem", "s1.b0", ...
    stage: str
    dims: int  # feature dimension after the reduction
    lda_accuracy: float  # 5-fold CV shrinkage-LDA accuracy on PCA(p), in [0, 1]
    mi_probe_bits: float  # usable information, bits (held-out lower bound on I(Z;Y))
    fisher_trace_ratio: float  # tr(S_B) / tr(S_W), >= 0
    cka_prev: float  # linear CKA with the previous block's output; NaN for the stem
    note: str  # why a value is NaN or not trustworthy; "" normally


@dataclass(frozen=True)
class BlockProfiles:
    """Per-block separability profile of the probe set."""

    n: int
    reduction: str  # "gap" or "flat"
    rows: tuple[ProfileRow, ...]

    def to_frame(self) -> pd.DataFrame:
        return tidy(self.rows, **_settings(self, ("rows",)))


# ----------------------------------------------------------------------------- signal
@dataclass(frozen=True)
class SignalRow:
    """Signal propagation through one block; NaN where a quantity does not apply."""

    block: str
    stage: str
    shortcut: str  # identity | pad | projection | none; "" for the stem
    branch_std: float  # sqrt of the average channel variance of the branch output (after BN, before the addition)
    output_std: float  # the same for the block output (after the addition and the ReLU)
    var_ratio: float  # Var(branch) / Var(shortcut), average channel variances; NaN for plain blocks
    stable_rank: float  # ||H||_F^2 / ||H||_2^2 of the (n, C*H*W) output, not centred, in [1, n]
    stable_rank_centred: float  # the same after subtracting the mean image
    grad_norm: float  # Frobenius norm of d(mean cross-entropy) / d(block output) over the batch


@dataclass(frozen=True)
class SignalProfile:
    """Signal propagation through every block for one set of weights."""

    weights: str  # "trained", "init", or the caller's label
    bn_stats: str  # "running" (eval mode) or "batch" (the batch's own statistics)
    n: int
    loss: float  # mean cross-entropy of the batch, nats
    rows: tuple[SignalRow, ...]

    def to_frame(self) -> pd.DataFrame:
        return tidy(self.rows, **_settings(self, ("rows",)))
