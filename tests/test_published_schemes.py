"""Fixup and SkipInit as their papers define them, and the validation split (known answers)."""
import pytest
import torch

from explorer.models import ScalarBias, build_model, init_model
from explorer.train import TrainConfig, param_groups, split_indices


@pytest.mark.parametrize("name", ["resnet20-nobn-fixup", "resnet20-nobn-skipinit", "resnet50-nobn-fixup",
                                  "resnet56-nobn-B-fixup", "resnet20-nobn-fixupsimple"])
def test_at_initialisation_the_net_is_its_shortcut_path(name):
    """Every branch is exactly zero at init (Zhang et al.: last conv zero; De & Smith: alpha = 0), so the
    net computes the function of its shortcut path alone: deleting every block changes no logit."""
    torch.manual_seed(0)
    net = init_model(name, 1).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        for part in net.iter_blocks(x):
            if part.branch is not None:
                assert torch.count_nonzero(part.branch) == 0, part.name
        every = range(len(net.blocks()))
        assert torch.equal(net(x), net.forward_lesioned(x, every))
        if "skipinit" in name:  # SkipInit keeps a trained classifier at init: the logits are not trivially zero
            assert torch.count_nonzero(net(x)) > 0


def test_published_fixup_has_the_reference_scalars_and_no_conv_bias():
    net = build_model("resnet20-nobn-fixup")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.bias is None for c in convs)
    b = net.blocks()[0]
    assert b.fixup_bias.shape == (2,) and b.fixup_out.shape == (2,) and b.branch_scale.item() == 1.0
    assert sum(isinstance(m, ScalarBias) for m in net.modules()) == 1  # before the stem's ReLU
    assert net.head_bias is not None and torch.count_nonzero(net.fc.weight) == 0
    simple = build_model("resnet20-nobn-fixupsimple")
    assert simple.blocks()[0].fixup_out is None and simple.head_bias is None
    assert all(c.bias is not None for c in simple.modules() if isinstance(c, torch.nn.Conv2d))


def test_parameter_groups_get_the_learning_rates_the_scheme_says():
    net = build_model("resnet20-nobn-fixup")
    groups = param_groups(net, 5e-4)
    slow = [g for g in groups if g["lr_scale"] == 0.1]
    assert len(slow) == 1
    n_blocks = len(net.blocks())
    # per block: 2 input biases, 2 output biases, 1 multiplier; plus stem bias, head bias, classifier bias
    assert sum(p.numel() for p in slow[0]["params"]) == n_blocks * 5 + 1 + 1 + 10
    assert {id(p) for p in slow[0]["params"]} >= {id(net.fc.bias), id(net.head_bias)}
    assert all(p.ndim <= 1 for p in slow[0]["params"]) and slow[0]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))  # every parameter once
    for name in ("resnet20-nobn-skipinit", "resnet20", "resnet20-nobn-fixupsimple"):
        assert all(g["lr_scale"] == 1.0 for g in param_groups(build_model(name), 5e-4))
    # one SGD step at lr 1 without momentum or decay moves a slow parameter by a tenth of its gradient
    opt = torch.optim.SGD(groups, lr=1.0)
    for g in opt.param_groups:
        g["lr"] = 1.0 * g["lr_scale"]
        g["weight_decay"] = 0.0
    before = net.fc.bias.detach().clone()
    loss = net(torch.randn(8, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()
    grad = net.fc.bias.grad.clone()
    opt.step()
    assert torch.allclose(net.fc.bias.detach(), before - 0.1 * grad)


def test_validation_split_is_stratified_fixed_and_disjoint():
    y = torch.arange(10).repeat_interleave(100)
    cfg = TrainConfig(val=200, val_seed=3, subset=None)
    tr, va = split_indices(y, cfg)
    assert len(va) == 200 and len(tr) == 800
    assert set(tr.tolist()).isdisjoint(va.tolist()) and len(set(tr.tolist()) | set(va.tolist())) == 1000
    assert torch.bincount(y[va]).tolist() == [20] * 10
    assert torch.equal(split_indices(y, cfg)[1], va)  # fixed by its seed
    assert not torch.equal(split_indices(y, TrainConfig(val=200, val_seed=4))[1], va)
    tr2, _ = split_indices(y, TrainConfig(val=200, val_seed=3, subset=300))
    assert len(tr2) == 300 and set(tr2.tolist()) <= set(tr.tolist())
    assert split_indices(y, TrainConfig())[1] is None and len(split_indices(y, TrainConfig())[0]) == 1000
