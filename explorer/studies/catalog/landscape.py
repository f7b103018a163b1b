"""The loss landscape (Li et al. 2018; Goodfellow et al. 2015) around the trained weights."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ...charts.landscape import landscape_contour, landscape_line_chart, landscape_surface
from ...models import init_model
from ..landscape import batch_evaluator, slice_points, to_frame
from .base import NUM, Study, check_settings, setting
from .images import reads_training_images, training_images


@dataclass(frozen=True)
class LandscapeSettings:
    """What a landscape study evaluates: ``images`` training images (stratified, seed 0), ``points`` a
    1-D slice (the line and the random direction), ``grid`` x ``grid`` for the 2-D slice (0: none),
    steps in [-span, span] (the line: [0, 1]), directions drawn with ``seed``."""

    images: int = setting(1000, flag="--images", label="Training images", help="landscape: training images evaluated",
                          lo=10, hi=50_000, widget_values=[250, 500, 1000, 2000, 5000], widget_key="ls_images")
    points: int = setting(21, flag="--points", label="Points a 1-D slice", help="landscape: points a 1-D slice",
                          lo=3, hi=101, odd=True, widget_values=[11, 21, 41], widget_key="ls_points")
    grid: int = setting(11, flag="--grid", label="2-D grid (points a side; 0 = none)",
                        help="landscape: the 2-D slice is GRID x GRID (0: none); each point is one pass over the "
                             "images: 21 x 21 on resnet56 takes minutes on a CPU", lo=3, hi=101, odd=True,
                        zero_ok=True, widget_values=[0, 7, 11, 21, 31], widget_key="ls_grid")
    span: float = setting(1.0, flag="--span", label="Span", help="landscape: steps in [-SPAN, SPAN]", lo=1e-9, hi=10)
    seed: int = setting(0, flag="--seed", label="Seed", help="landscape: seed of the random directions", lo=0,
                        hi=2 ** 32 - 1)

    def __post_init__(self):
        check_settings(self)



def _compute(run, inputs, cfg: LandscapeSettings, progress=None) -> pd.DataFrame:
    x, y, source = training_images(run, inputs, cfg.images)
    model, ev = run.load_model(), batch_evaluator(x, y)
    views = (["line"] if run.seed is not None else []) + ["1d"] + (["2d"] if cfg.grid else [])
    sizes = {"line": cfg.points, "1d": cfg.points, "2d": cfg.grid ** 2}
    total, done, parts = sum(sizes[v] for v in views), 0, []
    for view in views:
        init = None
        if view == "line":
            with torch.random.fork_rng():
                init = init_model(run.spec, run.seed).state_dict()
        step = (lambda f, d=done, n=sizes[view]: progress((d + f * n) / total, view)) if progress else None
        parts.append(to_frame(slice_points(model, ev, view, points=cfg.grid if view == "2d" else cfg.points,
                                           span=cfg.span, init_state=init, seed=cfg.seed, progress=step)))
        done += sizes[view]
    return pd.concat(parts, ignore_index=True).assign(images_from=source)


def _page(df, colors, names, ui) -> None:
    value = ui.radio("Show", ["loss", "accuracy"], horizontal=True, key="ls_value")
    for view, title in (("line", "from the initial weights (α = 0) to the trained ones (α = 1)"),
                        ("1d", "along one filter-normalised random direction (0 = the trained weights)")):
        if (df["view"] == view).any():
            ui.markdown(f"**{value.capitalize()} {title}**")
            ui.altair_chart(landscape_line_chart(df, view, value, colors), width="stretch")
            if view == "line":
                ui.caption("Evaluated in eval mode all along: at α = 0 BatchNorm's running statistics are those of a "
                           "fresh net (mean 0, variance 1), so it normalises nothing there, and a deep net with "
                           "BatchNorm can start at a very large loss.")
    two = df[df["view"] == "2d"]
    if two.empty:
        return
    ui.markdown("**Two filter-normalised random directions** (log10 of the loss; the trained weights at the centre)")
    by_label = {names[r]: r for r in dict.fromkeys(two["run_id"])}
    c1, c2 = ui.columns([2, 1])
    pick = c1.selectbox("Run", list(by_label), key="ls_run")
    shape = c2.radio("View", ["contour", "surface"], horizontal=True, key="ls_shape")
    one = two[two["run_id"] == by_label[pick]]
    fig = (landscape_contour if shape == "contour" else landscape_surface)(one, pick)
    ui.plotly_chart(fig, width="stretch")


STUDY = Study(
    name="landscape", title="loss landscape",
    about="The loss around the trained weights (Li et al. 2018) along filter-normalised random directions (each "
          "filter of a direction scaled to the norm of the same filter of the weights; biases, BatchNorm "
          "parameters and its running statistics not moved), and along the straight line from the initial "
          "weights to the trained ones (Goodfellow et al. 2015). Deep plain nets are reported to have chaotic "
          "surfaces where residual nets have smooth, nearly convex ones. Evaluated on a fixed subset of the "
          "training split (the probe set when no training data is on this machine).",
    settings=LandscapeSettings, compute=_compute,
    chart=lambda df, colors=None: landscape_line_chart(df, "1d", "loss", colors), page=_page, background=True,
    cost=lambda s: f"{s.points * 2 + s.grid ** 2} passes over {s.images} images a run", reads=reads_training_images,
    page_fields=("images", "points", "grid"),
    columns={"view": str, "loss": NUM + (type(None),), "accuracy": NUM + (type(None),)})
