"""SkipInit and Fixup (models.py): what each promises at initialisation, and the spec's rules."""
import argparse

import pytest
import torch

from explorer.cli.common import add_model_args, model_spec_from_args
from explorer.models import ModelSpec, ModelSpecError, build_model, init_model, parse_model_name


@pytest.mark.parametrize("name", ["resnet20-nobn-skipinit", "resnet20-nobn-fixup", "resnet50-nobn-fixup"])
def test_every_block_starts_as_its_skip_path(name):
    """At initialisation each branch outputs exactly zero, so the net equals itself with every block deleted."""
    m = build_model(name).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        for part in list(m.iter_blocks(x))[1:]:
            assert torch.count_nonzero(part.branch) == 0
        assert torch.equal(m(x), m.forward_lesioned(x, m.deletable_blocks()))


def test_fixup_logits_start_at_zero_and_skipinit_ones_do_not():
    x = torch.randn(2, 3, 32, 32)
    assert torch.count_nonzero(build_model("resnet20-nobn-fixup")(x)) == 0  # zero classifier (Zhang et al., rule 1)
    assert torch.count_nonzero(build_model("resnet20-nobn-skipinit")(x)) > 0


@pytest.mark.parametrize("name,blocks,convs", [("resnet20", 9, 2), ("resnet56", 27, 2), ("resnet50", 16, 3)])
@pytest.mark.parametrize("tag", ["fixup", "fixupsimple"])
def test_fixup_scales_the_branch_convs_by_L_to_the_minus_one_over_2m_minus_2(name, blocks, convs, tag, monkeypatch):
    """Same seed, same draws: Fixup's inner branch convs are the default ones times L**(-1/(2m-2)), its last ones zero,
    and the stem keeps the default initialisation (the reference: the same net with Fixup's rescaling switched off)."""
    from explorer.models import ResNet
    fixup = init_model(f"{name}-nobn-{tag}", 3)
    monkeypatch.setattr(ResNet, "_fixup", lambda self: None)
    plain = init_model(f"{name}-nobn-{tag}", 3)
    factor = blocks ** (-1.0 / (2 * convs - 2))
    assert len(fixup.blocks()) == blocks
    for a, b in zip(plain.blocks(), fixup.blocks()):
        for ca, cb in zip(a.branch_convs[:-1], b.branch_convs[:-1]):
            torch.testing.assert_close(cb.weight, ca.weight * factor)
        assert torch.count_nonzero(b.branch_convs[-1].weight) == 0
        assert b.branch_scale.item() == 1.0 and torch.count_nonzero(b.fixup_bias) == 0
    assert torch.equal(plain.stages[0][0].weight, fixup.stages[0][0].weight)


def test_skipinit_scalars_start_at_zero_and_receive_gradient():
    m = build_model("resnet20-nobn-skipinit")
    scales = [b.branch_scale for b in m.blocks()]
    assert all(s.item() == 0.0 for s in scales)
    torch.nn.functional.cross_entropy(m(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3])).backward()
    assert all(s.grad is not None for s in scales) and any(s.grad.abs().item() > 0 for s in scales)


def test_schemes_change_nothing_for_the_other_models():
    """A spec without a scheme writes the keys it always wrote (records and condition ids unchanged), has no
    extra tensor, and the zoo's runs (trained before the switch existed) still load their weights exactly."""
    from pathlib import Path
    from explorer.runs import list_runs
    spec = parse_model_name("resnet20-nobn")
    assert set(spec.to_dict()) == {"family", "depth", "residual", "batchnorm", "shortcut", "num_classes"}
    assert not any("branch_scale" in k or "fixup" in k for k in init_model(spec, 0).state_dict())
    run = next(r for r in list_runs(Path(__file__).resolve().parents[1] / "checkpoints").runs
               if r.spec.name == "resnet20-nobn" and r.weights_file() is not None)
    from safetensors.torch import load_file
    stored = load_file(str(run.weights_file()))
    loaded = run.load_model().state_dict()
    assert set(stored) == set(loaded) and all(torch.equal(stored[k], loaded[k]) for k in stored)


@pytest.mark.parametrize("name,label", [("resnet20-nobn-skipinit", "resnet20-nobn-skipinit (Nbn+SkipInit)"),
                                        ("resnet56-nobn-fixup", "resnet56-nobn-fixup (Nbn+Fixup)")])
def test_names_round_trip(name, label):
    spec = parse_model_name(name)
    assert spec.name == name and spec.label == label
    assert ModelSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kw,match", [
    ({"branch_scale": "skipinit"}, "without BatchNorm"),  # with BN
    ({"batchnorm": False, "residual": False, "init": "fixup"}, "residual"),
    ({"batchnorm": False, "branch_scale": "skipinit", "init": "fixup"}, "not both"),
    ({"batchnorm": False, "branch_scale": "half"}, "branch_scale must be one of"),
    ({"batchnorm": False, "init": 3}, "init must be one of"),
])
def test_bad_scheme_specs_are_refused_with_one_sentence(kw, match):
    with pytest.raises(ModelSpecError, match=match):
        ModelSpec("cifar", 20, **kw)


def test_cli_flags_build_the_schemes():
    p = argparse.ArgumentParser()
    add_model_args(p)
    assert model_spec_from_args(p.parse_args(["--model", "resnet20", "--no-bn", "--branch-scale", "skipinit"])).name \
        == "resnet20-nobn-skipinit"
    assert model_spec_from_args(p.parse_args(["--family", "cifar", "--depth", "56", "--no-bn", "--init", "fixup"])).name \
        == "resnet56-nobn-fixup"
    with pytest.raises(ModelSpecError, match="without BatchNorm"):
        model_spec_from_args(p.parse_args(["--model", "resnet20", "--init", "fixup"]))
