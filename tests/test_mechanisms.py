"""Block access (explorer.blocks) and the mechanism studies, on known answers with tiny nets."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer import studies as mech
from explorer import separability as sep
from explorer.blocks import BasicBlock, BlockAccess, BlockError
from explorer.models import ModelSpec, build_model, init_model


def _net(name="resnet14", seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(name, **kw).eval()


def _randomise_bn(model, seed=1):
    """Non-trivial running statistics and affine parameters, so that eval mode is not an identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def _zero_branch(block):
    """Make the branch output exactly zero: the last BN's scale and shift (or the last conv) set to 0."""
    last = block.bn3 if hasattr(block, "bn3") else block.bn2
    if isinstance(last, nn.BatchNorm2d):
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    else:
        nn.init.zeros_(block.branch_convs[-1].weight)
        nn.init.zeros_(block.branch_convs[-1].bias)


X = torch.randn(24, 3, 32, 32)
Y = torch.arange(24) % 10


# ----------------------------------------------------------------------------- block access
@pytest.mark.parametrize("name,kw", [("resnet14", {}), ("resnet14-B", {}), ("resnet14", {"batchnorm": False}),
                                     ("resnet18", {}), ("resnet14", {"residual": False})])
def test_block_passes_agree_with_forward(name, kw):
    m = _randomise_bn(_net(name, **kw))
    with torch.no_grad():
        parts = list(m.iter_blocks(X[:4]))
        assert [p.name for p in parts] == m.block_names
        assert m.block_names[:3] == ["stem", "s1.b0", "s1.b1"]
        for p in parts[1:]:
            total = p.branch if p.shortcut is None else p.branch + p.shortcut
            assert torch.equal(p.output, F.relu(total))
        assert torch.allclose(m.head(parts[-1].output), m(X[:4]), atol=1e-6)
        stages = m.forward_stages(X[:4])
        outs = dict(m.forward_blocks(X[:4]))
        assert torch.allclose(outs["stem"], stages["stage0"])
        assert torch.allclose(outs[f"s1.b{len(m.stages[1]) - 1}"], stages["stage1"])


@pytest.mark.parametrize("name,kw", [("resnet14", {}), ("resnet14-B", {}), ("resnet14", {"batchnorm": False}),
                                     ("resnet18", {}), ("resnet50", {})])
def test_zeroed_branch_deletes_without_change(name, kw):
    m = _randomise_bn(_net(name, **kw))
    for target in ("s1.b1", "s2.b0"):  # an identity shortcut, and a downsampling one
        _zero_branch(dict(m.named_blocks())[target])
        with torch.no_grad():
            assert torch.equal(m.forward_lesioned(X[:4], [target]), m(X[:4]))
    lesions = mech.single_lesions(m, X[:8], Y[:8], batch_size=5)
    rows = {r.block: r for r in lesions.rows}
    for target in ("s1.b1", "s2.b0"):
        assert rows[target].accuracy == lesions.baseline_accuracy
        assert rows[target].loss == pytest.approx(lesions.baseline_loss, rel=1e-6)


@pytest.mark.parametrize("option", ["A", "B"])
def test_deleting_every_block_leaves_stem_shortcuts_and_head(option):
    m = _randomise_bn(_net("resnet14-B" if option == "B" else "resnet14"))
    names = [n for n, _ in m.named_blocks()]
    with torch.no_grad():
        h = m.stages[0](X[:4])  # (4, 16, 32, 32)
        for group in list(m.stages)[1:]:
            first = group[0]
            if option == "A" and first.shortcut_kind == "pad":  # stride 2, zero-pad the channels both sides
                extra = first.conv1.out_channels - h.shape[1]
                h = F.pad(h[:, :, ::2, ::2], (0, 0, 0, 0, extra // 2, extra - extra // 2))
            elif option == "B" and first.shortcut_kind == "projection":
                conv, bn = first.shortcut
                h = F.relu(F.batch_norm(F.conv2d(h, conv.weight, stride=2), bn.running_mean, bn.running_var,
                                        bn.weight, bn.bias, eps=bn.eps))
        expected = m.fc(h.mean(dim=(2, 3)))
        got = m.forward_lesioned(X[:4], names)
        assert torch.allclose(got, expected, atol=1e-5)
        for b in m.blocks():  # the branches play no part any more
            nn.init.normal_(b.conv2.weight)
        assert torch.allclose(m.forward_lesioned(X[:4], names), got)


def test_plain_blocks_identity_or_refused():
    m = _randomise_bn(_net("resnet14", residual=False))
    assert [b.deletable for b in m.blocks()] == [True, True, False, True, False, True]
    for bad in (["s2.b0"], [2], ["s9.b0"], ["stem"], [99], [True]):
        with pytest.raises(BlockError):
            m.forward_lesioned(X[:2], bad)
    with torch.no_grad():  # a shape-keeping plain block deleted is the identity
        blocks = m.blocks()
        h = m.stages[0](X[:4])
        for i, b in enumerate(blocks):
            h = h if i == 3 else b(h)
        assert torch.allclose(m.forward_lesioned(X[:4], ["s2.b1"]), m.head(h))
    rows = mech.single_lesions(m, X, Y).rows
    assert [r.block for r in rows if not r.deletable] == ["s2.b0", "s3.b0"]
    assert all(math.isnan(r.accuracy) for r in rows if not r.deletable)
    assert all(0 <= r.accuracy <= 1 for r in rows if r.deletable)


# ----------------------------------------------------------------------------- init_model
def test_init_model_is_what_the_trainer_builds(monkeypatch, tmp_path):
    from explorer.jobs import runner
    from explorer.data import load_digits
    from explorer.train import TrainConfig

    seen = {}

    def fake_train(model, data, cfg, **kw):
        seen.update({k: v.clone() for k, v in model.state_dict().items()})
        return SimpleNamespace(status="finished", epoch=0, message="", diverged_at=None)

    monkeypatch.setattr(runner, "train", fake_train)
    spec = ModelSpec("cifar", 14)
    runner.start_run(spec, TrainConfig(epochs=1, seed=7, device="cpu", batch_size=32), "digits", tmp_path, data=load_digits())
    mine = init_model(spec, 7).state_dict()
    assert list(mine) == list(seen) and all(torch.equal(mine[k], seen[k]) for k in mine)
    other = init_model(spec, 8).state_dict()
    assert not torch.equal(other["stages.0.0.weight"], mine["stages.0.0.weight"])


# ----------------------------------------------------------------------------- lesions
def test_random_lesions_reproducible_with_their_seed():
    m = _randomise_bn(_net("resnet20"))
    a = mech.lesion_curve(m, X, Y, ks=[1, 3], draws=3, seed=5)
    b = mech.lesion_curve(m, X, Y, ks=[1, 3], draws=3, seed=5, batch_size=7)
    assert [d.deleted for d in a.draws] == [d.deleted for d in b.draws]
    assert np.allclose([d.loss for d in a.draws], [d.loss for d in b.draws], rtol=1e-5)
    assert all(len(set(d.deleted)) == d.k for d in a.draws)
    only3 = mech.lesion_curve(m, X, Y, ks=[3], draws=3, seed=5)
    assert [d.deleted for d in only3.draws] == [d.deleted for d in a.draws if d.k == 3]
    c = mech.lesion_curve(m, X, Y, ks=[3], draws=3, seed=6)
    assert [d.deleted for d in c.draws] != [d.deleted for d in only3.draws]
    p = a.points[1]
    accs = np.array([d.accuracy for d in a.draws if d.k == 3])
    assert (p.k, p.draws) == (3, 3) and p.accuracy_mean == pytest.approx(accs.mean())
    assert p.accuracy_std == pytest.approx(accs.std(ddof=1)) and p.accuracy_min == accs.min()
    frame = a.to_frame()
    assert list(frame["k"]) == [1, 3] and set(frame["seed"]) == {5}
    assert len(a.draws_frame()) == 6


def test_lesion_study_matches_separate_studies_and_manual_lesion():
    m = _randomise_bn(_net("resnet14"))
    study = mech.lesion_study(m, X, Y, ks=[2], draws=2, seed=0)
    singles = mech.single_lesions(m, X, Y)
    curve = mech.lesion_curve(m, X, Y, ks=[2], draws=2, seed=0)
    assert study.singles == singles and study.curve == curve
    with torch.no_grad():
        logits = m.forward_lesioned(X, ["s2.b1"])
    row = next(r for r in singles.rows if r.block == "s2.b1")
    assert row.loss == pytest.approx(F.cross_entropy(logits, Y).item(), rel=1e-5)
    assert row.accuracy == (logits.argmax(1) == Y).sum().item() / len(Y)
    frame = singles.to_frame()
    assert len(frame) == 6 and {"block", "accuracy", "loss", "deletable", "baseline_accuracy"} <= set(frame)


def test_shared_paths_give_what_each_lesioned_net_gives():
    """Sets that share deleted prefixes (the walk reuses their paths) against one pass each."""
    m = _randomise_bn(_net("resnet20", batchnorm=False))
    sets = [[0], [0, 1], [0, 1, 2], [1], [1, 8], ["s3.b2", 0], [0, 1], [8]]
    baseline, results = mech.evaluate_lesions(m, X, Y, sets, batch_size=10)
    with torch.no_grad():
        for s, (acc, loss) in zip(sets, results):
            logits = m.forward_lesioned(X, s)
            assert acc == (logits.argmax(1) == Y).sum().item() / len(Y)
            assert loss == pytest.approx(F.cross_entropy(logits, Y).item(), rel=1e-5)
        assert baseline[1] == pytest.approx(F.cross_entropy(m(X), Y).item(), rel=1e-5)
    assert results[1] == results[6]
    with pytest.raises(mech.MechanismError):
        mech.evaluate_lesions(m, X, Y, [[]])


def test_lesion_inputs_are_checked():
    m = _net("resnet14")
    for x, y in [(X.to(torch.uint8), Y), (X[0], Y[:1]), (X, Y[:3]), (X, Y + 10), (X, Y.float())]:
        with pytest.raises(mech.MechanismError):
            mech.single_lesions(m, x, y)
    for ks, draws in [([0], 1), ([7], 1), ([1], 0), ([], 1)]:
        with pytest.raises(mech.MechanismError):
            mech.lesion_curve(m, X, Y, ks=ks, draws=draws)
    with pytest.raises(mech.MechanismError):
        mech.single_lesions(nn.Linear(3, 3), X, Y)


# ----------------------------------------------------------------------------- stable rank
@pytest.mark.parametrize("r", [1, 3, 7])
def test_stable_rank_of_equal_singular_values(r):
    rng = np.random.default_rng(r)
    U, _ = np.linalg.qr(rng.standard_normal((40, r)))
    V, _ = np.linalg.qr(rng.standard_normal((300, r)))
    H = 2.5 * U @ V.T  # (40, 300), r singular values 2.5
    assert mech.stable_rank(torch.from_numpy(H)) == pytest.approx(r, rel=1e-9)
    U = U - U.mean(0)  # rows with a common offset: the centred stable rank ignores it
    U, _ = np.linalg.qr(U)
    offset = rng.standard_normal(300) * 10
    assert mech.stable_rank(torch.from_numpy(U @ V.T + offset), centred=True) == pytest.approx(r, rel=1e-9)
    assert mech.stable_rank(torch.ones(5, 2, 3, 3)) == pytest.approx(1.0)
    assert math.isnan(mech.stable_rank(torch.zeros(5, 4)))


# ----------------------------------------------------------------------------- signal
class _TwoBlocks(BlockAccess, nn.Module):
    """Identity stem, two residual blocks whose branches are ``a * relu(x)`` and ``b * relu(x)``."""

    def __init__(self, a: float, b: float, channels: int = 4):
        super().__init__()
        blocks = []
        for scale in (a, b):
            block = BasicBlock(channels, channels, 1, residual=True, batchnorm=False, shortcut="A")
            for conv, s in ((block.conv1, 1.0), (block.conv2, scale)):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
                with torch.no_grad():
                    conv.weight[range(channels), range(channels), 1, 1] = s  # centre tap: s * identity
            blocks.append(block)
        self.stages = nn.ModuleList([nn.Identity(), nn.Sequential(*blocks)])
        self.fc = nn.Linear(channels, 3)

    def head(self, x):
        return self.fc(x.mean(dim=(2, 3)))


def test_signal_on_a_hand_built_net_with_known_variances():
    a, b = 0.5, 2.0
    net = _TwoBlocks(a, b)
    torch.manual_seed(0)
    z = torch.randn(256, 4, 8, 8)
    y = torch.arange(256) % 3
    prof = mech.signal_profile(net, z, y)
    stem, b1, b2 = prof.rows
    var_relu = 0.5 - 1 / (2 * math.pi)  # Var(relu(Z)), Z ~ N(0, 1)
    assert b1.var_ratio == pytest.approx(a * a * var_relu, rel=0.03)  # branch a relu(z), skip z (var 1)
    assert b1.branch_std == pytest.approx(a * math.sqrt(var_relu), rel=0.02)
    assert b1.output_std == pytest.approx((1 + a) * math.sqrt(var_relu), rel=0.02)  # (1 + a) relu(z)
    assert b2.var_ratio == pytest.approx(b * b, rel=1e-6)  # its input is >= 0: branch = b * skip
    assert b2.output_std == pytest.approx((1 + a) * (1 + b) * math.sqrt(var_relu), rel=0.02)
    assert math.isnan(stem.var_ratio) and math.isnan(stem.branch_std)
    assert (b1.shortcut, stem.shortcut) == ("identity", "")
    # the gradient through the head: d CE / d out = (softmax - onehot) W / (N H W) at every position
    out2 = (1 + a) * (1 + b) * F.relu(z)
    logits = net.head(out2)
    g = (torch.softmax(logits, 1) - F.one_hot(y, 3)) @ net.fc.weight / (256 * 64)  # (N, C)
    grad2 = g[:, :, None, None].expand_as(z)
    assert b2.grad_norm == pytest.approx(grad2.norm().item(), rel=1e-4)  # float32 sums in either order
    grad1 = (1 + b) * grad2 * (z > 0)  # out2 = (1 + b) out1, and the ReLU passes nothing where out1 = 0
    assert b1.grad_norm == pytest.approx(grad1.norm().item(), rel=1e-4)
    assert prof.loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert b2.stable_rank == pytest.approx(mech.stable_rank(out2), rel=1e-6)
    assert list(prof.to_frame()["block"]) == ["stem", "s1.b0", "s1.b1"]


def test_signal_batch_statistics_leave_the_net_alone_and_init_matches_init_model():
    m = _randomise_bn(_net("resnet14"))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    batch = mech.signal_profile(m, X, Y, bn_stats="batch")
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items()) and not m.training
    running = mech.signal_profile(m, X, Y)
    assert batch.rows[1].branch_std != pytest.approx(running.rows[1].branch_std)
    state = torch.get_rng_state()
    init = mech.signal_at_init(m.spec, 3, X, Y)
    assert torch.equal(state, torch.get_rng_state())
    again = mech.signal_profile(init_model(m.spec, 3), X, Y, bn_stats="batch", weights="init")
    assert init.to_frame().equals(again.to_frame()) and init.weights == "init" and init.bn_stats == "batch"
    # batch statistics: every BN'd branch output has unit average channel std (up to eps)
    assert all(r.branch_std == pytest.approx(1.0, abs=1e-3) for r in init.rows[1:])
    with pytest.raises(mech.MechanismError):
        mech.signal_profile(m, X, Y, bn_stats="train")


# ----------------------------------------------------------------------------- profiles
def test_block_profiles_use_the_separability_metrics():
    from explorer.data import load_digits, normalize

    data = load_digits()
    mean, std = data.mean_std()
    x = normalize(torch.as_tensor(data.test_x[:150]), mean, std)
    y = np.asarray(data.test_y[:150])
    m = _randomise_bn(_net("resnet8"))
    _zero_branch(m.blocks()[0])  # s1.b0 then passes its input on: CKA with the stem is 1
    prof = mech.block_profiles(m, x, y, batch_size=64)
    assert [r.block for r in prof.rows] == ["stem", "s1.b0", "s2.b0", "s3.b0"]
    assert prof.rows[1].cka_prev == pytest.approx(1.0, abs=1e-6) and math.isnan(prof.rows[0].cka_prev)
    feats = mech.block_features(m, x)
    for row in prof.rows:
        X_ = feats[row.block]
        assert row.dims == X_.shape[1]
        assert row.lda_accuracy == pytest.approx(sep.score("lda_accuracy", X_, y, p=32, folds=5, seed=0)[0], abs=1e-9)
        assert row.fisher_trace_ratio == pytest.approx(sep.fisher_trace_ratio(X_, y), rel=1e-5)
    assert row.mi_probe_bits == pytest.approx(sep.score("mi_probe_bits", X_, y, p=32, folds=5, seed=0)[0], abs=1e-6)
    assert prof.rows[2].cka_prev == pytest.approx(sep.linear_cka(feats["s1.b0"], feats["s2.b0"]), rel=1e-6)
    frame = prof.to_frame()
    assert list(frame.columns[:2]) == ["n", "reduction"] and len(frame) == 4


def test_mechanisms_command_writes_a_labelled_csv(digits_runs, tmp_path, explorer_cli):
    import pandas as pd

    from explorer.runs import list_runs
    ids = [r.id for r in list_runs(digits_runs).runs[:2]]
    for kind in ("lesion", "profile", "signal"):
        out = tmp_path / f"{kind}.csv"
        code, _, err = explorer_cli("mechanisms", *ids, "--kind", kind, "--root", digits_runs, "--csv", out)
        assert code == 0, err
        df = pd.read_csv(out)
        assert set(df["run_id"]) == set(ids) and df["label"].nunique() == 2 and "condition" in df


def test_lesions_over_the_full_test_set_when_the_data_is_there(digits_runs, tmp_path, monkeypatch):
    from explorer.studies.catalog import study_table
    from explorer.studies.catalog.lesion import LesionSettings
    from explorer.runs import list_runs
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    df = study_table(run, "lesion", LesionSettings(test_set=True))
    test = df[df["view"] == "single (test set)"]
    assert len(test) == len(df[df["view"] == "single"]) and (test["n"] == 540).all()  # digits: 540 test images
    assert study_table(run, "lesion", cached_only=True) is None  # the probe-only study is cached under its own key
    assert study_table(run, "lesion", LesionSettings(test_set=True), cached_only=True) is not None
