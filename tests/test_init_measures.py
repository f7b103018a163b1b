"""Known answers for the measures of freshly initialised nets (explorer.studies.init_measures)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.models import ModelSpecError, init_model
from explorer.studies.init_measures import (COLUMNS, batch_frozen, init_measures, init_sweep, propagation,
                                            shattering)
from explorer.studies.signal import stable_rank


@pytest.fixture(scope="module")
def probe():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 32, 32, generator=g), torch.arange(8) % 4


def test_zero_branches_pass_the_gradient_through_the_shortcuts_only(probe):
    """SkipInit starts every branch at exactly 0: Var(branch) = 0, and the gradient at the first block is
    the last block's gradient carried back by the option-A shortcuts (subsampling, zero padding, ReLU)."""
    x, y = probe
    model = init_model("resnet8-nobn-skipinit", 0)
    p = propagation(model, x, y)
    assert p.branch_ratios == (0.0, 0.0, 0.0)
    outs = model.forward_blocks(x)
    h_last = outs[-1][1]  # (N, 64, 8, 8)
    (g,) = torch.autograd.grad(F.cross_entropy(model.head(h_last), y), h_last)
    # the first block's 16 channels sit at 8..24 of group 2's 32 and at 16 + (8..24) = 24..40 of group 3's 64;
    # where h_last is 0 the ReLU passes no gradient back (torch's relu'(0) = 0)
    carried = (g * (h_last > 0))[:, 24:40]
    assert p.grad_first == pytest.approx(float(carried.double().norm()), rel=1e-5)
    assert p.grad_last == pytest.approx(float(g.double().norm()), rel=1e-5)
    assert p.grad_ratio < 1


def test_propagation_leaves_the_callers_running_statistics_alone(probe):
    x, y = probe
    model = init_model("resnet8", 0)
    before = model.stages[0][1].running_mean.clone()
    propagation(model, x, y)
    assert torch.equal(model.stages[0][1].running_mean, before)


def test_stable_rank_of_rank_one_and_orthogonal_matrices():
    u, v = torch.randn(20, 1, dtype=torch.float64), torch.randn(1, 30, dtype=torch.float64)
    assert stable_rank(u @ v) == pytest.approx(1.0)
    q, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64))
    assert stable_rank(q[:5]) == pytest.approx(5.0)  # 5 orthonormal rows: five equal singular values
    rows = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=torch.float64) + 3.0
    assert stable_rank(rows) == pytest.approx(float((rows ** 2).sum() / torch.linalg.matrix_norm(rows, 2) ** 2))
    assert stable_rank(rows, centred=True) == pytest.approx(2.0)  # the mean removed: a cross, two equal directions


def test_batch_frozen_normalises_as_train_mode_does_on_that_batch(probe):
    x, _ = probe
    model = init_model("resnet8", 0)
    with torch.no_grad():
        expected = model.train()(x)
        got = batch_frozen(model, x)(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_a_linear_net_has_one_constant_input_gradient():
    """The logit of an affine map has one gradient everywhere: lag-1 correlation 1, never below 1/e.
    A BatchNorm in front stays affine only once its statistics are frozen: the measure freezes them."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    x, y = torch.randn(8, 3, 4, 4), torch.arange(8) % 4
    lag1, length, censored = shattering(net, x, y, lines=2, points=5)
    assert lag1 == pytest.approx(1.0) and length == 1.0 and censored


def test_init_sweep_is_a_tidy_table(probe):
    x, y = probe
    seen = []
    frame = init_sweep((8,), ((False, True), (True, False)), (0, 1), x, y, seen.append, lines=2, points=4)
    assert tuple(frame.columns) == COLUMNS and seen[-1] == 1.0 and len(seen) == 4
    plain, res = frame[~frame.residual], frame[frame.residual]
    assert "branch_var_ratio" not in set(plain.measure)
    assert sorted(res[res.measure == "branch_var_ratio"].block.unique()) == [0, 1, 2]
    one = frame[(frame.measure == "grad_ratio") & frame.residual & (frame.seed == 1)].value.iloc[0]
    assert one == pytest.approx(init_measures("resnet8-nobn", 1, x, y, lines=2, points=4).propagation.grad_ratio)
    logs = frame[frame.measure == "log10_grad_ratio"].value.to_numpy()
    assert np.allclose(10 ** logs, frame[frame.measure == "grad_ratio"].value.to_numpy())
    with pytest.raises(ModelSpecError):
        init_sweep((9,), ((True, True),), (0,), x, y)
