"""Curvature of the loss at given weights: the Hessian's extreme eigenvalues and its trace.

As PyHessian (Yao et al. 2020) computes them, from Hessian-vector products alone (the Hessian
of a ResNet-56, 0.85M x 0.85M, is never formed):

* **Hessian-vector product** ``H v`` by double backward: the gradient ``g(w)`` is computed once
  with its graph kept, then ``H v = d(g . v)/dw`` for each ``v`` (one extra backward pass);
* **top eigenvalue** by power iteration: ``v <- H v / ||H v||``, the Rayleigh quotient ``v . H v``
  as the estimate, stopped when it changes by at most ``tol`` relative to its size. Power
  iteration finds the eigenvalue of largest *magnitude*; when that one is negative it is the
  smallest eigenvalue and the largest is found by the shifted iteration below;
* **both extremes at once** by the Lanczos method (:func:`lanczos_extremes`, what the study uses): ``m``
  products build an orthonormal Krylov basis (fully re-orthogonalised), and the extreme eigenvalues
  of the ``m x m`` tridiagonal matrix (Ritz values) approximate H's. Each lies inside H's spectrum
  (the largest Ritz value <= lambda_max, the smallest >= lambda_min), and its error is bounded by its
  residual ``beta_m |s_m|`` (the last component of its Ritz vector); the iteration stops when both
  residuals are at most ``tol`` times the largest |Ritz value| (Golub & Van Loan, ch. 10). Far fewer
  products than power iteration for the same accuracy, and lambda_min comes free;
* **smallest eigenvalue** by shifted power iteration on ``H - lambda_max I``, whose eigenvalues
  ``lambda_i - lambda_max`` are all <= 0, so its dominant one is ``lambda_min - lambda_max``
  (Li et al. 2018 report ``|lambda_min / lambda_max|`` to show how far from convex a region is).
  Its absolute error is about ``tol * (lambda_max - lambda_min)``: a ratio below ~``tol`` is not
  resolved, and the iteration converges slowly when the two most negative eigenvalues are close
  (``converged`` says whether it met ``tol`` within ``iterations``);
* **trace** by Hutchinson's estimator: ``tr H = E[v . H v]`` for Rademacher ``v`` (entries +-1),
  the mean over ``samples`` draws with its standard error ``std / sqrt(samples)``.

For a net (:func:`loss_curvature`), the loss is the mean cross-entropy over one fixed batch of
training images with BatchNorm in **eval mode** (its running statistics), so that the loss is a
function of the weights alone and the same at every product; every parameter that trains counts.
The gradient's graph over the whole batch is kept for all the products: memory as a training step
with that batch, twice over.

References
----------
.. [1] Z. Yao, A. Gholami, K. Keutzer, M. W. Mahoney, PyHessian: neural networks through the lens
   of the Hessian, IEEE BigData, 2020.
.. [2] H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, Visualizing the loss landscape of neural
   nets, NeurIPS, 2018.
.. [3] G. H. Golub, C. F. Van Loan, Matrix computations, 4th ed., ch. 10 (the Lanczos method), 2013.
.. [4] M. F. Hutchinson, A stochastic estimator of the trace of the influence matrix for Laplacian
   smoothing splines, Communications in Statistics - Simulation and Computation 18, 1989.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .common import MechanismError, check_probe, device_of, mode

Product = Callable[[torch.Tensor], torch.Tensor]  # v (P,) -> H v (P,), flat over the parameters
ITERATIONS, TOLERANCE, SAMPLES = 100, 1e-3, 50


@dataclass(frozen=True)
class Eigen:
    value: float
    iterations: int  # Hessian-vector products used
    converged: bool  # met the tolerance within the iterations


@dataclass(frozen=True)
class Trace:
    value: float
    se: float  # standard error of the mean over the samples; NaN for one sample
    samples: int


@dataclass(frozen=True)
class Curvature:
    """The Hessian of the loss of one net on one batch (see the module doc)."""

    loss: float  # mean cross-entropy on the batch, nats
    top: Eigen  # lambda_max
    bottom: Eigen  # lambda_min
    trace: Trace
    images: int
    parameters: int

    @property
    def ratio(self) -> float:
        """Li et al.'s non-convexity ``max(0, -lambda_min) / lambda_max``: 0 when no negative curvature is found
        (a positive lambda_min is a convex point, not a non-convex one)."""
        return max(0.0, -self.bottom.value) / self.top.value if self.top.value > 0 else float("nan")


def _check_count(name: str, v: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise MechanismError(f"{name} must be a positive integer, got {v!r}.")


def _check(iterations: int, tol: float) -> None:
    _check_count("iterations", iterations)
    if isinstance(tol, bool) or not isinstance(tol, (float, int)) or not 0 < tol < 1:
        raise MechanismError(f"The tolerance must be a number in (0, 1), got {tol!r}.")


def hessian_product(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> Product:
    """``v -> H v``, H the Hessian of the scalar ``loss`` in ``params`` (flattened and concatenated).

    The gradient is taken once with ``create_graph=True``; every product is one more backward
    pass through it. A parameter the gradient does not depend on contributes zeros.
    """
    params = list(params)
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    flat = torch.cat([g.reshape(-1) for g in grads])  # (P,)
    if not flat.requires_grad:  # a loss linear in every parameter: H = 0
        return lambda v: torch.zeros_like(v)

    def product(v: torch.Tensor) -> torch.Tensor:
        out = torch.autograd.grad(flat, params, grad_outputs=v.to(flat.dtype), retain_graph=True, allow_unused=True)
        return torch.cat([(torch.zeros_like(p) if o is None else o).reshape(-1) for p, o in zip(params, out)])
    return product


def power_iteration(product: Product, dim: int, *, shift: float = 0.0, iterations: int = ITERATIONS,
                    tol: float = TOLERANCE, seed: int = 0, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> Eigen:
    """The dominant eigenvalue of ``H - shift I`` plus ``shift``: H's eigenvalue farthest from ``shift``.

    Starts from a Gaussian vector drawn with ``seed``; the estimate is the Rayleigh quotient.
    """
    _check(iterations, tol)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g, dtype=torch.float64)
    v = (v / v.norm()).to(device, dtype)
    previous = None
    for i in range(1, iterations + 1):
        w = product(v) - shift * v
        estimate = float(torch.dot(v.double(), w.double()))
        norm = float(w.double().norm())
        if not np.isfinite(norm):
            return Eigen(float("nan"), i, False)
        if norm == 0:  # v is in the kernel of H - shift I
            return Eigen(shift, i, True)
        v = w / norm
        if previous is not None and abs(estimate - previous) <= tol * abs(previous):
            return Eigen(estimate + shift, i, True)
        previous = estimate
    return Eigen(previous + shift, iterations, False)


def extreme_eigenvalues(product: Product, dim: int, *, iterations: int = ITERATIONS, tol: float = TOLERANCE,
                        seed: int = 0, device: torch.device | str = "cpu",
                        dtype: torch.dtype = torch.float32) -> tuple[Eigen, Eigen]:
    """(lambda_max, lambda_min): power iteration, then the shifted one (see the module doc)."""
    kw = dict(iterations=iterations, tol=tol, device=device, dtype=dtype)
    dominant = power_iteration(product, dim, seed=seed, **kw)
    if not np.isfinite(dominant.value):
        return dominant, dominant
    other = power_iteration(product, dim, shift=dominant.value, seed=seed + 1, **kw)
    return (dominant, other) if dominant.value >= other.value else (other, dominant)


def lanczos_extremes(product: Product, dim: int, *, iterations: int = ITERATIONS, tol: float = TOLERANCE,
                     seed: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                     min_steps: int = 1) -> tuple[Eigen, Eigen]:
    """(lambda_max, lambda_min) by the Lanczos method (see the module doc): at least ``min_steps`` and at most
    ``iterations`` products, stopped when both extreme Ritz values' residual bounds are within ``tol`` x max |Ritz|.

    A small residual proves a Ritz value close to *an* eigenvalue, not to the extreme one: a Ritz value inside a
    dense cluster (the many near-zero eigenvalues of a trained net) has a small residual long before the few
    negative eigenvalues are found. The smallest Ritz value is always >= lambda_min (interlacing), so with few
    steps it is an upper bound on lambda_min and |lambda_min / lambda_max| a lower bound; ``min_steps`` makes every
    net searched with the same number of products, so that the bounds are comparable."""
    _check(iterations, tol)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g, dtype=torch.float64)
    basis = [v / v.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    theta = np.array([float("nan")])
    for i in range(1, min(iterations, dim) + 1):
        w = product(basis[-1].to(device, dtype)).detach().double().cpu()
        if not bool(torch.isfinite(w).all()):
            nan = Eigen(float("nan"), i, False)
            return nan, nan
        alphas.append(float(torch.dot(w, basis[-1])))
        for _ in range(2):  # full re-orthogonalisation, twice (Kahan-Parlett)
            for u in basis:
                w -= torch.dot(w, u) * u
        beta = float(w.norm())
        theta, s = _tridiagonal_eigh(alphas, betas)
        scale = max(abs(theta[0]), abs(theta[-1]), np.finfo(float).tiny)
        residual = beta * np.abs(s[-1, [-1, 0]])  # of the largest and of the smallest Ritz value
        done = residual <= tol * scale
        if beta <= 1e-12 * scale or i == dim:  # an invariant subspace: the Ritz values are exact eigenvalues
            done = np.array([True, True])
        if done.all() and (i >= min_steps or beta <= 1e-12 * scale or i == dim):
            return Eigen(float(theta[-1]), i, True), Eigen(float(theta[0]), i, True)
        betas.append(beta)
        basis.append(w / beta)
    return Eigen(float(theta[-1]), len(alphas), bool(done[0])), Eigen(float(theta[0]), len(alphas), bool(done[1]))


def _tridiagonal_eigh(alphas: list[float], betas: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix (alphas; betas off the diagonal)."""
    k = len(alphas)
    t = np.diag(np.array(alphas)) + np.diag(np.array(betas[: k - 1]), 1) + np.diag(np.array(betas[: k - 1]), -1)
    return np.linalg.eigh(t)


def hutchinson_trace(product: Product, dim: int, *, samples: int = SAMPLES, seed: int = 0,
                     device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Trace:
    """Hutchinson's estimate of tr H: the mean of ``v . H v`` over Rademacher vectors ``v``, with its SE."""
    _check_count("samples", samples)
    g = torch.Generator().manual_seed(seed)
    draws = []
    for _ in range(samples):
        v = (torch.randint(0, 2, (dim,), generator=g) * 2 - 1).to(device, dtype)
        draws.append(float(torch.dot(v.double(), product(v).double())))
    d = np.array(draws)
    se = float(d.std(ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return Trace(float(d.mean()), se, samples)


def loss_curvature(model, x, y, *, iterations: int = ITERATIONS, tol: float = TOLERANCE, samples: int = SAMPLES,
                   seed: int = 0, eigen: bool = True, trace: bool = True, min_steps: int = 1) -> Curvature:
    """The Hessian of the mean cross-entropy of ``model`` on the batch ``x`` (N, 3, H, W; normalised), ``y``.

    BatchNorm in eval mode (running statistics); the caller's mode is restored. ``eigen`` /
    ``trace`` switch the two parts off (the skipped part is NaN with 0 products).
    """
    x, y = check_probe(model, x, y)
    _check(iterations, tol)
    _check_count("samples", samples)
    device = device_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise MechanismError("The model has no parameter that trains: there is no Hessian to measure.")
    dim = sum(p.numel() for p in params)
    dtype = params[0].dtype
    nothing = Eigen(float("nan"), 0, False)
    with torch.enable_grad(), mode(model, False):
        loss = F.cross_entropy(model(x.to(device)).float(), y.to(device))
        product = hessian_product(loss, params)
        kw = dict(device=device, dtype=dtype)
        top, bottom = (lanczos_extremes(product, dim, iterations=iterations, tol=tol, seed=seed, min_steps=min_steps,
                                        **kw)
                       if eigen else (nothing, nothing))
        tr = hutchinson_trace(product, dim, samples=samples, seed=seed, **kw) if trace else Trace(float("nan"),
                                                                                                  float("nan"), 0)
    return Curvature(float(loss.detach()), top, bottom, tr, len(x), dim)
