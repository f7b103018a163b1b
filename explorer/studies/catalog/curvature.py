"""Curvature at the trained weights (Yao et al. 2020; Li et al. 2018): the Hessian's extremes and trace."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...charts.landscape import curvature_chart
from ..curvature import loss_curvature
from .base import NUM, Study, check_settings, setting
from .images import reads_training_images, training_images

HVP_PASSES = 8  # one Hessian-vector product in forward passes: 7.7x (resnet20) and 9.2x (resnet56), bench/hessian_cost.py


@dataclass(frozen=True)
class CurvatureSettings:
    """The Hessian of the mean cross-entropy on ``images`` training images (stratified, seed 0), BatchNorm
    in eval mode: lambda_max and lambda_min by ``steps`` Lanczos products, every one taken so that every net's
    lambda_min is searched alike (``tol``: the relative residual that counts as converged), the trace by
    Hutchinson over ``samples`` Rademacher vectors, all drawn with ``seed``."""

    images: int = setting(256, flag="--images", label="Training images", help="curvature: training images in the loss",
                          lo=10, hi=5000, widget_values=[128, 256, 512, 1000], widget_key="cv_images")
    steps: int = setting(30, flag="--steps", label="Lanczos steps", help="curvature: Hessian-vector products "
                         "for the extreme eigenvalues (all taken)", lo=2, hi=500,
                         widget_values=[10, 20, 30, 60], widget_key="cv_steps")
    tol: float = setting(0.001, flag="--tol", label="Tolerance", help="curvature: stop when both extreme Ritz values' "
                         "residuals are within TOL x the largest |eigenvalue|", lo=1e-9, hi=0.5)
    samples: int = setting(10, flag="--samples", label="Trace samples", help="curvature: Hutchinson samples for the "
                           "trace", lo=2, hi=1000, widget_values=[5, 10, 20, 50], widget_key="cv_samples")
    seed: int = setting(0, flag="--seed", label="Seed", help="curvature: seed of the start vector and the samples",
                        lo=0, hi=2 ** 32 - 1)

    def __post_init__(self):
        check_settings(self)


def _compute(run, inputs, cfg: CurvatureSettings, progress=None) -> pd.DataFrame:
    x, y, source = training_images(run, inputs, cfg.images)
    if progress:
        progress(0.0, f"curvature: {cfg.steps} + {cfg.samples} Hessian-vector products at most")
    c = loss_curvature(run.load_model(), x, y, iterations=cfg.steps, tol=cfg.tol, samples=cfg.samples, seed=cfg.seed,
                       min_steps=cfg.steps)
    return pd.DataFrame([{
        "loss": c.loss, "lambda_max": c.top.value, "lambda_min": c.bottom.value, "ratio": c.ratio,
        "trace": c.trace.value, "trace_se": c.trace.se, "trace_samples": c.trace.samples,
        "lanczos_steps": c.top.iterations, "converged_max": c.top.converged, "converged_min": c.bottom.converged,
        "images": c.images, "parameters": c.parameters, "images_from": source}])


def _page(df, colors, names, ui) -> None:
    ui.altair_chart(curvature_chart(df, colors), width="stretch")
    cols = ["lambda_max", "trace", "trace_se", "lambda_min", "ratio", "lanczos_steps", "converged_max",
            "converged_min", "loss", "images_from", "label", "condition_label"]  # the values first
    ui.dataframe(df[[c for c in cols if c in df.columns]], hide_index=True, width="stretch")
    ui.caption("λmax and λmin: the extreme Ritz values of the Hessian after the Lanczos steps (converged = the "
               "residual bound met the tolerance). λmax converges first; λmin is an upper bound (the most negative "
               "curvature found), so the ratio max(0, -λmin) / λmax (Li et al.) is a lower bound. Trace: Hutchinson's "
               "estimate ± its standard error over the samples.")


STUDY = Study(
    name="curvature", title="curvature (Hessian)",
    about="The curvature of the training loss at the trained weights, from Hessian-vector products (Yao et al. 2020, "
          "PyHessian): the largest eigenvalue (the sharpest direction) and the trace (the total curvature), which "
          "grow with depth in CIFAR ResNets without shortcuts; and Li et al. 2018's non-convexity max(0, -λmin) / λmax "
          "at that point (a lower bound: λmin is the most negative curvature the Lanczos steps found). BatchNorm "
          "in eval mode with the trained statistics, on a fixed subset of the training split (the probe set when no training data is on this machine: then its own condition).",
    settings=CurvatureSettings, compute=_compute, chart=lambda df, colors=None: curvature_chart(df, colors),
    page=_page, background=True, reads=reads_training_images,
    cost=lambda s: f"{(s.steps + s.samples) * HVP_PASSES + 3} passes over {s.images} images a run ({s.steps} + "
                   f"{s.samples} Hessian-vector products, each about {HVP_PASSES} forward passes)",
    page_fields=("images", "steps", "samples"),
    verdict_rows=("loss-surface roughness",),
    columns={"lambda_max": NUM + (type(None),), "trace": NUM + (type(None),), "ratio": NUM + (type(None),),
             "images_from": str})
