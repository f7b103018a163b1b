import pytest
import torch
from torch import nn

from explorer.models import ModelSpec, ModelSpecError, build_model, count_parameters, parse_model_name

PARAMS = {
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018,
    "resnet110": 1_727_962, "resnet20-B": 272_474, "resnet18": 11_173_962,
    "resnet34": 21_282_122, "resnet50": 23_520_842,
}


@pytest.mark.parametrize("name,count", PARAMS.items())
def test_parameter_counts(name, count):
    assert count_parameters(build_model(name)) == count


@pytest.mark.parametrize("name,shapes", [
    ("resnet20", [(16, 32), (16, 32), (32, 16), (64, 8)]),
    ("resnet8", [(16, 32), (16, 32), (32, 16), (64, 8)]),
    ("resnet18", [(64, 32), (64, 32), (128, 16), (256, 8), (512, 4)]),
    ("resnet50", [(64, 32), (256, 32), (512, 16), (1024, 8), (2048, 4)]),
])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_stage_shapes(name, shapes, residual, batchnorm):
    m = build_model(name, residual=residual, batchnorm=batchnorm).eval()
    with torch.no_grad():
        out = m.forward_stages(torch.randn(2, 3, 32, 32))
        logits = m(torch.randn(2, 3, 32, 32))
    assert list(out) == m.stage_names == [f"stage{i}" for i in range(len(shapes))]
    for (c, hw), t in zip(shapes, out.values()):
        assert t.shape == (2, c, hw, hw)
    assert logits.shape == (2, 10)


def test_forward_stages_matches_forward():
    m = build_model("resnet20").eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        last = m.forward_stages(x)["stage3"]
        assert torch.allclose(m.head(last), m(x))
        assert list(m.forward_stages(x, ["stage1"])) == ["stage1"]


def _zero_last_convs(m):
    for b in m.blocks():
        nn.init.zeros_(b.branch_convs[-1].weight)
        if b.branch_convs[-1].bias is not None:
            nn.init.zeros_(b.branch_convs[-1].bias)


@pytest.mark.parametrize("name", ["resnet20", "resnet20-B", "resnet18", "resnet50"])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_residual_switch_really_removes_shortcuts(name, batchnorm):
    """With the branch's last conv zeroed, a residual block passes its (non-negative) input on,
    a plain block outputs zeros."""
    x = torch.relu(torch.randn(2, 3, 32, 32))
    for residual in (True, False):
        m = build_model(name, residual=residual, batchnorm=batchnorm).eval()
        _zero_last_convs(m)
        blocks = m.blocks()
        assert all((b.shortcut is None) == (not residual) for b in blocks)
        first = blocks[1]  # an identity-shaped block (stride 1, same width)
        h = torch.relu(torch.randn(2, first.conv1.in_channels, 8, 8))
        with torch.no_grad():
            out = first(h)
        if residual:
            assert torch.allclose(out, h)
        else:
            assert torch.count_nonzero(out) == 0
        if not residual:
            with torch.no_grad():
                assert torch.count_nonzero(m.forward_stages(x)["stage1"]) == 0


def test_batchnorm_switch_removes_every_norm_layer():
    for name in ["resnet20", "resnet20-B", "resnet18", "resnet50"]:
        m = build_model(name, batchnorm=False)
        assert not any(isinstance(mod, nn.modules.batchnorm._NormBase) for mod in m.modules())
        assert all(c.bias is not None for c in m.modules() if isinstance(c, nn.Conv2d))
        m = build_model(name)
        assert any(isinstance(mod, nn.BatchNorm2d) for mod in m.modules())
        assert all(c.bias is None for c in m.modules() if isinstance(c, nn.Conv2d))


def test_stage_parameters_partition_the_model():
    m = build_model("resnet18")
    groups = m.stage_parameters()
    assert list(groups) == ["stage0", "stage1", "stage2", "stage3", "stage4", "head"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(m.parameters()))


def test_names_and_labels():
    assert parse_model_name("resnet50").family == "resnet"
    assert parse_model_name("resnet56").family == "cifar"
    assert parse_model_name("cifar-resnet50").family == "cifar"
    s = parse_model_name("resnet56-nores-nobn")
    assert (s.residual, s.batchnorm, s.variant, s.name) == (False, False, "Nboth", "resnet56-nores-nobn")
    assert parse_model_name("resnet20", residual=False).label == "resnet20-nores (Nres)"
    assert parse_model_name("resnet18", batchnorm=False).variant == "Nbn"
    assert parse_model_name("resnet18").variant == "FULL"
    assert ModelSpec("cifar", 50).name == "cifar-resnet50"
    for spec in [ModelSpec("cifar", 56, False, True), ModelSpec("resnet", 34, True, False), ModelSpec("cifar", 20, shortcut="B")]:
        assert parse_model_name(spec.name) == spec
        assert ModelSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("bad", [
    lambda: ModelSpec("cifar", 19), lambda: ModelSpec("resnet", 20), lambda: ModelSpec("vgg", 16),
    lambda: parse_model_name("resnet19"), lambda: parse_model_name("alexnet"), lambda: ModelSpec("cifar", 2),
    lambda: ModelSpec.from_dict({"family": "cifar"}), lambda: ModelSpec.from_dict({"family": "cifar", "depth": 20, "x": 1}),
])
def test_bad_specs_give_one_clear_error(bad):
    with pytest.raises(ModelSpecError) as e:
        bad()
    assert "\n" not in str(e.value) and len(str(e.value)) > 20


def test_cifar_19_message_names_6n_plus_2():
    with pytest.raises(ModelSpecError, match="6n\\+2"):
        ModelSpec("cifar", 19)


@pytest.mark.parametrize("d,match", [
    ({"family": "cifar", "depth": 1_200_002}, "between 8 and 2000"),
    ({"family": "cifar", "depth": 2006}, "between 8 and 2000"),
    ({"family": "cifar", "depth": 20, "num_classes": 10**12}, "2 to 10000 classes"),
    ({"family": "cifar", "depth": 20, "num_classes": 1}, "2 to 10000 classes"),
    ({"family": "cifar", "depth": 20, "num_classes": True}, "'num_classes' must be an integer"),
    ({"family": "cifar", "depth": True}, "'depth' must be an integer"),
    ({"family": "cifar", "depth": 20.0}, "'depth' must be an integer"),
    ({"family": "cifar", "depth": "20"}, "'depth' must be an integer"),
    ({"family": "cifar", "depth": 20, "residual": "yes"}, "'residual' must be true or false"),
    ({"family": "cifar", "depth": 20, "batchnorm": 1}, "'batchnorm' must be true or false"),
    ({"family": ["cifar"], "depth": 20}, "Unknown model family"),
    ({"family": "cifar", "depth": 20, "shortcut": ["A"]}, "Shortcut option"),
])
def test_hostile_specs_are_refused_before_building(d, match):
    """A config.json from outside cannot ask for a net too deep or a head too wide to build."""
    with pytest.raises(ModelSpecError, match=match) as e:
        ModelSpec.from_dict(d)
    assert "\n" not in str(e.value)
    with pytest.raises(ModelSpecError):
        ModelSpec(**d)


def test_spec_bounds_keep_every_named_depth():
    for depth in (8, 20, 110, 1202, 1994):
        assert ModelSpec("cifar", depth).depth == depth
    assert ModelSpec("cifar", 20, num_classes=10_000).num_classes == 10_000
    with pytest.raises(ModelSpecError, match="2000"):
        parse_model_name("resnet1200002")
