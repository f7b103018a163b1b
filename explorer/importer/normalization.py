"""The input normalisation an imported model expects: ``data``, ``cifar10``, ``imagenet`` or ``M1,M2,M3/S1,S2,S3``.

A model trained elsewhere saw its inputs as ``(x / 255 - mean) / std`` with the mean and std
its training code chose; evaluated or analysed with other statistics it sees shifted inputs.
The choice is stored in the run's `DataInfo` (``normalization`` plus ``mean``/``std``):

* ``data``: the data set's own training-split statistics (recorded when the data set is known
  at import; left empty otherwise and taken from the data set the run is evaluated on);
* ``cifar10``: CIFAR-10's training-set statistics, as most CIFAR training code hard-codes them;
* ``imagenet``: torchvision's ImageNet statistics;
* ``M1,M2,M3/S1,S2,S3``: custom, in [0, 1] pixel units (divide 0-255 values by 255).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..runs import DataInfo
from ..settings import shorten

CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # CIFAR-10 training set, per channel
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # torchvision's ImageNet models
KNOWN = {"cifar10": CIFAR10, "imagenet": IMAGENET}
HELP = "data, cifar10, imagenet, or three means and three stds as M1,M2,M3/S1,S2,S3 (e.g. 0.5,0.5,0.5/0.25,0.25,0.25)"


class NormalizationError(ValueError):
    """A normalisation that is not one of the accepted forms; the message says what was expected."""


@dataclass(frozen=True)
class Normalization:
    kind: str  # data | cifar10 | imagenet | custom (as DataInfo.normalization)
    mean: tuple[float, float, float] | None = None  # None for "data": the data set's own statistics
    std: tuple[float, float, float] | None = None


def _three(part: str, what: str, text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in part.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise NormalizationError(f"Normalisation {shorten(text, 60)!r} needs three {what} separated by commas; "
                                 f"expected {HELP}.")
    return vals  # type: ignore[return-value]


def parse_normalization(text: str) -> Normalization:
    """``data`` | ``cifar10`` | ``imagenet`` | ``M1,M2,M3/S1,S2,S3`` -> a `Normalization` (checked)."""
    t = str(text).strip().lower()
    if t == "data":
        return Normalization("data")
    if t in KNOWN:
        return Normalization(t, *KNOWN[t])
    if t.count("/") != 1:
        raise NormalizationError(f"Unknown normalisation {shorten(text, 60)!r}; expected {HELP}.")
    left, right = t.split("/")
    mean, std = _three(left, "means", text), _three(right, "stds", text)
    if not all(0.0 <= m <= 1.0 for m in mean) or not all(0.0 < s <= 1.0 for s in std):
        raise NormalizationError(f"Normalisation {shorten(text, 60)!r} is out of range: means must lie in [0, 1] and "
                                 "stds in (0, 1], in pixel units of [0, 1] (divide 0-255 values by 255).")
    return Normalization("custom", mean, std)


def with_normalization(info: DataInfo, norm: Normalization) -> DataInfo:
    """``info`` carrying ``norm``; for ``data`` the data set's statistics already in ``info`` are kept."""
    if norm.kind == "data":
        return replace(info, normalization="data")
    return replace(info, mean=norm.mean, std=norm.std, normalization=norm.kind)
