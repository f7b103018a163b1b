"""The initialisation sweep summarised: one net's estimate per (depth, variant, measure, block).

Reads the tidy table of :func:`explorer.studies.init_measures.init_sweep` and gives, for every
group of seeds, the mean with its 95% t interval, or, for a positive ratio
(:data:`explorer.studies.init_measures.POSITIVE`) whose values are all > 0, the geometric mean
with the interval of the mean log, exponentiated (:func:`explorer.verdict.contrast.estimate`), so
that the interval of a positive quantity never reaches below 0. Seeds are the replicates: the
measurement noise of one net (its lines) is already averaged inside each value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..studies.init_measures import COLUMNS, POSITIVE
from .contrast import estimate

KEYS = ["depth", "residual", "batchnorm", "measure", "block"]
SUMMARY_COLUMNS = KEYS + ["n", "centre", "ci_low", "ci_high", "log_scale"]


def summarise_sweep(frame: pd.DataFrame, *, blocks: bool = False) -> pd.DataFrame:
    """Per (depth, residual, batchnorm, measure, block): n seeds, centre, 95% CI and its scale.

    ``blocks=False`` keeps the whole-net measures only (block -1). Non-finite values (a net whose
    activations overflowed) are left out of n; a group with none gives NaN.
    """
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"The sweep table lacks the columns {sorted(missing)}; expected those of init_sweep.")
    if not blocks:
        frame = frame[frame["block"] == -1]
    out = []
    for key, group in frame.groupby(KEYS, sort=True):
        v = group["value"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        log = key[3] in POSITIVE and len(v) > 0 and bool((v > 0).all())
        e = estimate(v, log_scale=log)
        out.append(dict(zip(KEYS, key), n=e.n, centre=e.centre, ci_low=e.ci_low, ci_high=e.ci_high, log_scale=log))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)
