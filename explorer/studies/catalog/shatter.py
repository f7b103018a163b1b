"""Shattered gradients (Balduzzi et al. 2017): input gradients along lines between probe images."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...charts.landscape import shatter_chart
from ...data import normalize
from ..shatter import shatter_study
from .base import NUM, Study, check_settings, setting


@dataclass(frozen=True)
class ShatterSettings:
    """``lines`` lines between probe images of different classes, ``points`` gradients a line, the
    gradient of the true class's ``logit`` (or its ``loss``), lines drawn with ``seed``."""

    lines: int = setting(16, flag="--lines", label="Lines", help="shatter: lines between probe images", lo=1, hi=256)
    points: int = setting(64, flag="--points", label="Gradients a line", help="shatter: gradients a line", lo=3, hi=512)
    target: str = setting("logit", flag="--target", label="Gradient of", help="shatter: the gradient of what",
                          choices=("logit", "loss"))
    seed: int = setting(0, flag="--seed", label="Seed", help="shatter: seed of the lines", lo=0, hi=2 ** 32 - 1)

    def __post_init__(self):
        check_settings(self)


def _compute(run, inputs, cfg: ShatterSettings, progress=None) -> pd.DataFrame:
    x = normalize(inputs.probe.images, inputs.mean, inputs.std)
    step = (lambda f: progress(f, "shatter")) if progress else None
    return shatter_study(run.load_model(), x, inputs.probe.labels, lines=cfg.lines, points=cfg.points,
                         target=cfg.target, seed=cfg.seed, progress=step).to_frame()


def _page(df, colors, names, ui) -> None:
    ui.markdown("**Correlation of input gradients against distance** (mean over the lines; dotted: 1/e)")
    ui.altair_chart(shatter_chart(df, colors), width="stretch")
    lengths = df.groupby(["label", "condition_label"], as_index=False)[["length", "censored"]].first()
    ui.caption("Correlation length (fraction of the line where the correlation first falls below 1/e; "
               "censored = never fell, a lower bound): "
               + "; ".join(f"{r.label}: {r.length:.3f}{' (lower bound)' if r.censored else ''}"
                           for r in lengths.itertuples()))


STUDY = Study(
    name="shatter", title="shattered gradients",
    about="Shattered gradients (Balduzzi et al. 2017): the input gradient of the true class's logit at evenly "
          "spaced points on lines between two probe images of different classes, and the correlation of the "
          "gradients at two points against their distance. In deep plain nets it decays fast (white-noise "
          "gradients); skip connections keep it correlated. Correlation length: where it falls below 1/e.",
    settings=ShatterSettings, compute=_compute, chart=lambda df, colors=None: shatter_chart(df, colors), page=_page,
    columns={"lag": NUM, "correlation": NUM + (type(None),)})
