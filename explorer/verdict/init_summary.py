"""The initialisation sweep summarised: one net's estimate per (depth, variant, measure, block), and the
two contrasts of a verdict on one measure.

Reads the tidy table of :func:`explorer.studies.init_measures.init_sweep` and gives, for every
group of seeds, the mean with its 95% t interval, or, for a positive ratio
(:data:`explorer.studies.init_measures.POSITIVE`) whose values are all > 0, the geometric mean
with the interval of the mean log, exponentiated (:func:`explorer.verdict.contrast.estimate`), so
that the interval of a positive quantity never reaches below 0. Seeds are the replicates: the
measurement noise of one net (its lines) is already averaged inside each value.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..studies.init_measures import COLUMNS, POSITIVE
from .contrast import contrast, decide, estimate, holm

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


CONTRASTS = ("deep plain vs shallow plain", "deep plain vs deep residual")


def sweep_contrasts(frame: pd.DataFrame, measure: str, predicted: tuple[int, int], *, shallow: int = 20,
                    deep: int = 56, batchnorm: bool = True) -> pd.DataFrame:
    """The two contrasts an explanation of degradation predicts, on one whole-net measure, over seeds.

    ``deep plain vs shallow plain`` and ``deep plain vs deep residual`` (a - b, or the ratio a / b
    for a positive measure), each with Welch's interval, Hedges' g, Holm's correction over the two,
    and the outcome against ``predicted`` (+1: a > b, -1: a < b, one for each contrast).
    """
    rows = frame[(frame["measure"] == measure) & (frame["block"] == -1) & (frame["batchnorm"] == batchnorm)]

    def values(depth: int, residual: bool) -> np.ndarray:
        v = rows[(rows["depth"] == depth) & (rows["residual"] == residual)]["value"].to_numpy(dtype=float)
        return v[np.isfinite(v)]

    pairs = ((values(deep, False), values(shallow, False)), (values(deep, False), values(deep, True)))
    log = measure in POSITIVE and all(len(v) and (v > 0).all() for pair in pairs for v in pair)
    cs = [contrast(a, b, log_scale=log) for a, b in pairs]
    h = holm([c.p for c in cs])
    out = []
    for name, c, q, rej, pred in zip(CONTRASTS, cs, h.adjusted, h.reject, predicted):
        d = decide(c, pred, rej)
        out.append({"contrast": name, "measure": measure, "batchnorm": batchnorm, "n_a": c.n_a, "n_b": c.n_b,
                    "diff": c.diff, "ci_low": c.ci_low, "ci_high": c.ci_high, "log_scale": c.log_scale, "p": c.p,
                    "p_holm": q, "hedges_g": c.effect, "outcome": d.outcome, "note": d.note})
    return pd.DataFrame(out)


SWEEP_FILE = "init_sweep.csv"
SWEEP_CAP = 32 * 2 ** 20  # bytes: the shipped table is about 0.5 MB


def load_sweep(folder=None) -> pd.DataFrame | None:
    """The shipped initialisation sweep (checkpoints/studies/init_sweep.csv), None when it is not there;
    read through the guarded door and checked for the sweep's columns (a bad file raises ValueError)."""
    from ..atomic import FileMissing, read_capped
    from ..settings import SHIPPED_STUDIES
    path = (SHIPPED_STUDIES if folder is None else folder) / SWEEP_FILE
    try:
        raw = read_capped(path, SWEEP_CAP, what="table of the initialisation sweep")
    except FileMissing:
        return None
    if raw and not raw.endswith(b"\n"):  # the writer ends every row with a newline: a copy cut short does not
        raise ValueError(f"{path.name} is cut short (its last row is incomplete); copy it again or rerun "
                         "checkpoints/init_sweep.py.")
    try:
        frame = pd.read_csv(io.BytesIO(raw))
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path.name} is not a CSV table of the initialisation sweep ({e}).") from None
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path.name} lacks the columns {sorted(missing)}; expected {', '.join(COLUMNS)}.")
    frame["residual"] = frame["residual"].astype(str).str.lower() == "true"
    frame["batchnorm"] = frame["batchnorm"].astype(str).str.lower() == "true"
    return frame
