"""Loss-landscape slices and shattered gradients against cases with known answers."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from explorer.studies.landscape import (batch_evaluator, filter_normalized_direction, movable, nonconvex_fraction,
                                           slice_points, wiggle)
from explorer.studies.shatter import (correlation_length, lag_curve, line_gradients, pearson_matrix,
                                         shatter_study)
from explorer.models import build_model, init_model


class Quadratic(nn.Module):
    """Loss 0.5 * sum(h * (W - W*)^2): its slice along any direction is a parabola known in closed form."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.weight = nn.Parameter(torch.randn(4, 3, generator=g, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(4, generator=g, dtype=torch.float64))
        self.register_buffer("target", torch.randn(4, 3, generator=g, dtype=torch.float64))
        self.register_buffer("h", torch.rand(4, 3, generator=g, dtype=torch.float64) + 0.5)

    def loss(self) -> float:
        with torch.no_grad():
            return float(0.5 * (self.h * (self.weight - self.target) ** 2).sum() + (self.bias ** 2).sum())


def _quad_eval(m):
    return m.loss(), 0.0


@pytest.mark.parametrize("view", ["1d", "2d"])
def test_quadratic_slice_matches_its_closed_form(view):
    m = Quadratic()
    base = {k: v.detach().clone() for k, v in m.state_dict().items()}
    pts = slice_points(m, _quad_eval, view, points=7, span=1.0, seed=3)
    g = torch.Generator().manual_seed(3)
    d1 = filter_normalized_direction(base, g, {"weight"})["weight"]
    d2 = filter_normalized_direction(base, g, {"weight"})["weight"]
    for p in pts:
        W = base["weight"] + p.a * d1 + p.b * d2
        expect = float(0.5 * (base["h"] * (W - base["target"]) ** 2).sum() + (base["bias"] ** 2).sum())
        assert p.loss == pytest.approx(expect, rel=1e-12, abs=1e-12)
    assert len(pts) == (49 if view == "2d" else 7)
    assert torch.equal(m.weight, base["weight"])  # the model is restored


def test_directions_are_filter_normalised_and_leave_biases_and_norms_alone():
    m = build_model("resnet20")
    state = m.state_dict()
    d = filter_normalized_direction(state, torch.Generator().manual_seed(0), movable(m))
    assert movable(m) == {n for n, p in m.named_parameters() if p.ndim == 4} | {"fc.weight"}
    for name, w in state.items():
        if w.is_floating_point() and w.ndim > 1:
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-5, atol=1e-7)
        elif w.is_floating_point():
            assert torch.count_nonzero(d[name]) == 0, name  # BN weight/bias/running stats, conv biases


def test_zero_step_is_the_runs_own_loss_and_the_line_joins_init_to_trained():
    torch.manual_seed(0)
    x, y = torch.randn(40, 3, 32, 32), torch.randint(0, 10, (40,))
    trained = init_model("resnet8", 5)
    with torch.no_grad():  # "trained": moved away from the initialisation, BN statistics too
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
        trained.train()(x)
    ev = batch_evaluator(x, y, batch_size=16)
    own = ev(trained)
    for view in ("1d", "2d"):
        zero = [p for p in slice_points(trained, ev, view, points=5, seed=1) if p.a == 0 and p.b == 0]
        assert len(zero) == 1 and zero[0].loss == pytest.approx(own[0], rel=1e-6) and zero[0].accuracy == own[1]
    init = init_model("resnet8", 5).state_dict()
    line = {p.a: p for p in slice_points(trained, ev, "line", points=5, span=1.0, init_state=init)}
    assert sorted(line) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert line[1.0].loss == pytest.approx(own[0], rel=1e-5)
    assert line[0.0].loss == pytest.approx(ev(init_model("resnet8", 5))[0], rel=1e-5)


def _frame_1d(loss):
    return pd.DataFrame({"view": "1d", "a": np.linspace(-1, 1, len(loss)), "b": 0.0, "loss": loss, "accuracy": 0.0})


def test_wiggle_is_one_for_a_valley_and_counts_extra_rises():
    a = np.linspace(-1, 1, 41)
    assert wiggle(_frame_1d(3 * a ** 2 + 0.2 * a)) == pytest.approx(1.0)
    # 4 -> 0 -> 2 -> 0 -> 4: total variation 12, one valley from 4 down to 0 and up to 4 needs 8
    assert wiggle(_frame_1d(np.array([4.0, 0.0, 2.0, 0.0, 4.0]))) == pytest.approx(1.5)


def test_nonconvex_fraction_of_a_bowl_and_a_saddle():
    a = np.linspace(-1, 1, 9)
    A, B = np.meshgrid(a, a)
    def frame(L):
        return pd.DataFrame({"view": "2d", "a": A.ravel(), "b": B.ravel(), "loss": L.ravel(), "accuracy": 0.0})
    assert nonconvex_fraction(frame(A ** 2 + 2 * B ** 2 + A * B)) == 0.0
    assert nonconvex_fraction(frame(A ** 2 - B ** 2)) == 1.0


def test_linear_net_has_perfectly_correlated_gradients():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    x, y = torch.randn(30, 3, 8, 8), torch.arange(30) % 10
    study = _study(lin, x, y)
    assert np.allclose([r.correlation for r in study.rows], 1.0, atol=1e-9)
    assert study.censored and study.length == 1.0


def _study(net, x, y, **kw):
    class Wrapped(nn.Module):  # shatter_study only needs a module with parameters mapping images to logits
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, z):
            return self.net(z)
    return shatter_study(Wrapped(), x, y, lines=4, points=9, **kw)


def test_sinusoid_decorrelates_as_cos_of_the_lag():
    """f(x) = sum_k sin(w x_k), x(t) = x0 + t T 1, phases w x0_k evenly spread over a period:
    the Pearson correlation of g(t) and g(t + s) is exactly cos(w T s)."""
    K, P, w, T = 64, 33, 2.0, 3.0
    x0 = torch.arange(K, dtype=torch.float64) * (2 * math.pi / K) / w
    G = line_gradients(lambda z: torch.sin(w * z).sum(dim=1), x0, x0 + T, P)
    curve = lag_curve(pearson_matrix(G))
    s = np.arange(P) / (P - 1)
    np.testing.assert_allclose(curve, np.cos(w * T * s), atol=1e-9)
    length, censored = correlation_length(curve, s)
    assert not censored and length == pytest.approx(math.acos(math.exp(-1)) / (w * T), abs=2e-3)


def test_deep_plain_net_shatters_more_than_its_residual_twin_at_init():
    """Balduzzi et al.'s observation at initialisation (BatchNorm in train mode is not involved: eval mode
    with fresh statistics); a sanity check of direction, not a benchmark."""
    torch.manual_seed(0)
    x, y = torch.randn(20, 3, 32, 32), torch.arange(20) % 10
    plain = shatter_study(init_model("resnet56-nores", 0), x, y, lines=3, points=17)
    res = shatter_study(init_model("resnet56", 0), x, y, lines=3, points=17)
    assert plain.rows[1].correlation < res.rows[1].correlation


def test_zero_gradients_have_no_correlation_length():
    """A net whose input gradient is zero everywhere (Fixup's zero classifier at init) is not 'perfectly smooth'."""
    torch.manual_seed(0)
    x, y = torch.randn(12, 3, 32, 32), torch.arange(12) % 10
    study = shatter_study(init_model("resnet8-nobn-fixup", 0), x, y, lines=2, points=5)
    assert np.isnan(study.length) and not study.censored
    # a NaN lag is skipped: the crossing is interpolated between the finite lags around it
    length, censored = correlation_length(np.array([1.0, np.nan, 0.2]), np.array([0.0, 0.5, 1.0]))
    assert length == pytest.approx((1 - math.exp(-1)) / 0.8) and not censored


def test_nonconvex_fraction_ignores_rounding_noise_on_a_flat_plane():
    a = np.linspace(-1, 1, 9)
    A, B = np.meshgrid(a, a)
    noise = np.random.default_rng(0).normal(scale=1e-9, size=A.shape)
    flat = pd.DataFrame({"view": "2d", "a": A.ravel(), "b": B.ravel(), "loss": (2.0 + 0.3 * A + noise).ravel(),
                         "accuracy": 0.0})
    assert nonconvex_fraction(flat) == 0.0


def test_random_slices_need_an_odd_number_of_points():
    from explorer.studies.catalog import StudyError as MechanismAnalysisError
    from explorer.studies.catalog.landscape import LandscapeSettings
    from explorer.studies import MechanismError
    with pytest.raises(MechanismError, match="odd"):
        slice_points(Quadratic(), _quad_eval, "1d", points=4)
    with pytest.raises(MechanismAnalysisError, match="odd"):
        LandscapeSettings(grid=10)
    assert LandscapeSettings(grid=0).grid == 0


def test_cli_shatter_points_are_the_shatter_studys(digits_runs, tmp_path):
    import subprocess
    import sys
    from explorer.runs import list_runs
    run = list_runs(digits_runs).runs[0]
    out = subprocess.run([sys.executable, "-m", "explorer", "mechanisms", run.id, "--root", str(digits_runs), "--kind",
                          "shatter", "--points", "129", "--lines", "2", "--csv", str(tmp_path / "s.csv")],
                         capture_output=True, text=True, env={**__import__("os").environ,
                                                              "EXPLORER_CACHE": str(tmp_path / "c")})
    assert out.returncode == 0, out.stderr[-500:]
    assert len(pd.read_csv(tmp_path / "s.csv")) == 129
