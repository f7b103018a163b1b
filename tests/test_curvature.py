"""Known answers for the Hessian measures (explorer.studies.curvature)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.models import init_model
from explorer.studies.common import MechanismError
from explorer.studies.curvature import (extreme_eigenvalues, hessian_product, hutchinson_trace, loss_curvature,
                                        lanczos_extremes, power_iteration)


def quadratic(eigenvalues, seed=0):
    """0.5 w^T A w with A = Q diag(eigenvalues) Q^T, Q a random orthogonal matrix; (product, A)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g, dtype=torch.float64))
    A = q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T
    w = torch.randn(len(eigenvalues), dtype=torch.float64, generator=g, requires_grad=True)
    return hessian_product(0.5 * w @ A @ w, [w]), A


def test_quadratic_products_are_A_v():
    product, A = quadratic([5.0, 2.0, 1.0, 0.5, -3.0])
    v = torch.arange(5, dtype=torch.float64)
    torch.testing.assert_close(product(v), A @ v)


def test_quadratic_extreme_eigenvalues():
    product, _ = quadratic([5.0, 2.0, 1.0, 0.5, -3.0])
    top, bottom = extreme_eigenvalues(product, 5, tol=1e-10, iterations=500, dtype=torch.float64)
    assert top.value == pytest.approx(5.0, rel=1e-6) and top.converged
    assert bottom.value == pytest.approx(-3.0, rel=1e-5) and bottom.converged


def test_a_dominant_negative_eigenvalue_is_the_minimum():
    product, _ = quadratic([1.0, 0.5, -4.0])
    top, bottom = extreme_eigenvalues(product, 3, tol=1e-10, iterations=500, dtype=torch.float64)
    assert (top.value, bottom.value) == pytest.approx((1.0, -4.0), rel=1e-5)


def test_hutchinson_is_exact_on_a_diagonal_and_unbiased_otherwise():
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    d = torch.tensor([3.0, -1.0, 2.0, 0.5], dtype=torch.float64)
    exact = hutchinson_trace(hessian_product(0.5 * (d * w * w).sum(), [w]), 4, samples=5, dtype=torch.float64)
    assert exact.value == pytest.approx(4.5) and exact.se == pytest.approx(0.0, abs=1e-12)  # v_i^2 = 1
    product, A = quadratic([5.0, 2.0, 1.0, 0.5, -3.0])
    t = hutchinson_trace(product, 5, samples=400, seed=1, dtype=torch.float64)
    assert abs(t.value - float(torch.trace(A))) < 4 * t.se and t.se > 0


def test_least_squares_hessian_is_XtX_over_n():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randn(40, generator=g, dtype=torch.float64)
    lin = nn.Linear(6, 1, bias=False).double()
    loss = 0.5 * ((lin(X).squeeze(1) - y) ** 2).mean()
    product = hessian_product(loss, list(lin.parameters()))
    H = X.T @ X / 40
    v = torch.randn(6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(product(v), H @ v)
    eig = torch.linalg.eigvalsh(H)
    top, bottom = extreme_eigenvalues(product, 6, tol=1e-12, iterations=2000, dtype=torch.float64)
    assert (top.value, bottom.value) == pytest.approx((float(eig[-1]), float(eig[0])), rel=1e-4)


def test_lanczos_finds_both_extremes_of_a_wide_spectrum_in_few_products():
    rng = np.random.default_rng(3)
    eigenvalues = [50.0, -7.0] + list(rng.uniform(-2.0, 10.0, 198))
    product, _ = quadratic(eigenvalues, seed=3)
    top, bottom = lanczos_extremes(product, 200, tol=1e-6, iterations=200, dtype=torch.float64)
    assert (top.value, bottom.value) == pytest.approx((50.0, -7.0), rel=1e-5)
    assert top.converged and bottom.converged and top.iterations < 100
    slow_top, slow_bottom = extreme_eigenvalues(product, 200, tol=1e-6, iterations=top.iterations, dtype=torch.float64)
    assert abs(slow_bottom.value + 7.0) > abs(bottom.value + 7.0)  # power iteration, same products: worse


def test_lanczos_ritz_values_lie_inside_the_spectrum_and_say_when_unconverged():
    product, A = quadratic(list(np.linspace(-1.0, 1.0, 60)), seed=4)
    top, bottom = lanczos_extremes(product, 60, tol=1e-12, iterations=4, dtype=torch.float64)
    assert not top.converged and top.iterations == 4
    assert -1.0 <= bottom.value <= top.value <= 1.0


def test_lanczos_on_least_squares_and_an_exact_small_space():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(30, 5, generator=g, dtype=torch.float64)
    lin = nn.Linear(5, 1, bias=False).double()
    product = hessian_product(0.5 * (lin(X).squeeze(1) ** 2).mean(), list(lin.parameters()))
    eig = torch.linalg.eigvalsh(X.T @ X / 30)
    top, bottom = lanczos_extremes(product, 5, tol=1e-10, iterations=50, dtype=torch.float64)
    assert (top.value, bottom.value) == pytest.approx((float(eig[-1]), float(eig[0])), rel=1e-8)
    assert top.iterations <= 5 and top.converged


def test_power_iteration_reports_no_convergence_when_out_of_iterations():
    product, _ = quadratic([1.0, 0.999, 0.5])
    e = power_iteration(product, 3, iterations=3, tol=1e-12, dtype=torch.float64)
    assert not e.converged and e.iterations == 3


def test_net_curvature_in_eval_mode_keeps_the_running_statistics():
    torch.manual_seed(0)
    model = init_model("resnet8", 0)
    model.train()
    x, y = torch.randn(4, 3, 32, 32), torch.arange(4) % 3
    before = {k: v.clone() for k, v in model.state_dict().items()}
    c = loss_curvature(model, x, y, iterations=2, samples=2, tol=0.5)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert c.top.value >= c.bottom.value and np.isfinite(c.trace.value) and c.images == 4
    assert c.parameters == sum(p.numel() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert c.loss == pytest.approx(float(F.cross_entropy(model(x), y)), rel=1e-5)
    with pytest.raises(MechanismError):
        loss_curvature(model, x, y, samples=0)


def test_lanczos_min_steps_keeps_an_early_residual_from_stopping_it():
    """A large top eigenvalue, two negative ones and a cluster near zero (a trained net's spectrum): the residual
    test alone stops after a few steps on a smallest Ritz value that is near *an* eigenvalue but is not
    lambda_min; ``min_steps`` takes every step and finds it."""
    rng = np.random.default_rng(5)
    eigenvalues = [100.0, -3.0, -2.5] + list(rng.normal(0.0, 0.05, 297))
    product, _ = quadratic(eigenvalues, seed=5)
    early = lanczos_extremes(product, 300, tol=1e-2, iterations=60, dtype=torch.float64)[1]
    assert early.converged and early.iterations < 10 and early.value > -2.9  # stopped short, "converged"
    full = lanczos_extremes(product, 300, tol=1e-2, iterations=60, min_steps=60, dtype=torch.float64)[1]
    assert full.iterations == 60 and full.value == pytest.approx(-3.0, rel=1e-3)


def test_non_convexity_ratio_counts_negative_curvature_only():
    from explorer.studies.curvature import Curvature, Eigen, Trace
    def c(top, bottom):
        return Curvature(0.1, Eigen(top, 5, True), Eigen(bottom, 5, True), Trace(1.0, 0.1, 2), 10, 10)
    assert c(100.0, -3.0).ratio == pytest.approx(0.03)
    assert c(100.0, 2.0).ratio == 0.0  # a positive smallest eigenvalue: a convex point
    assert np.isnan(c(0.0, -1.0).ratio)
