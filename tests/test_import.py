"""Import of outside weights: layouts, containers, formats judged by content, code never run, normalisation
(files crafted to exhaust memory, and weights of the wrong kind: test_import_hardening.py)."""
import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save

from explorer.importer import (ImportRefused, NormalizationError, import_file, map_state_dict, parse_normalization,
                               read_weights, sniff)
from explorer.models import build_model, parse_model_name
from explorer.runs import RunError, list_runs, open_run, validate_run
from helpers import Payload, akamaster_layout, randomized

ROOT = Path(__file__).resolve().parents[1]


def kuangliu_style(model):
    """Rename our keys the way the common CIFAR ResNet code names them."""
    out = {}
    for k, v in model.state_dict().items():
        k = k.replace("stages.0.0.", "conv1.").replace("stages.0.1.", "bn1.").replace("fc.", "linear.")
        k = k.replace("stages.", "layer")
        out["module." + k] = v
    return out


def torchvision_style(model):
    return {k.replace(".shortcut.", ".downsample."): v for k, v in kuangliu_style(model).items()}


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "resnet50-nores", "resnet20-B"])
@pytest.mark.parametrize("style", [kuangliu_style, torchvision_style])
def test_common_key_names_map_exactly(name, style):
    torch.manual_seed(1)
    src = build_model(name)
    mapped = map_state_dict(style(src), src.spec, "x")
    assert all(torch.equal(mapped[k], v) for k, v in src.state_dict().items())


def test_mismatch_is_reported_precisely():
    src = build_model("resnet20")
    sd = kuangliu_style(src)
    sd.pop("module.linear.bias")
    sd["module.extra.weight"] = torch.zeros(3)
    sd["module.layer1.0.conv1.weight"] = torch.zeros(16, 16, 5, 5)
    with pytest.raises(RunError) as e:
        map_state_dict(sd, src.spec, "w.pt")
    msg = str(e.value)
    assert "1 missing (fc.bias)" in msg and "1 unexpected (extra.weight)" in msg
    assert "stages.1.0.conv1.weight (16, 16, 5, 5) vs (16, 16, 3, 3)" in msg


def test_pt_and_safetensors_import_as_runs(tmp_path):
    torch.manual_seed(2)
    src = build_model("resnet20")
    pt = tmp_path / "seed_model.pt"
    torch.save({"net": kuangliu_style(src), "acc": 91.0, "epoch": 3}, pt)
    st = tmp_path / "w.safetensors"
    st.write_bytes(save({k: v.contiguous() for k, v in torchvision_style(src).items()}))
    for f in (pt, st):
        run = import_file(f, src.spec, tmp_path / "runs")
        validate_run(open_run(tmp_path / "runs", run.id))
        loaded = run.load_model().state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in src.state_dict().items())
        assert run.status == "imported" and run.history() == []


def test_pickle_payload_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": Payload(str(marker))}, evil)  # a file that runs code on a plain torch.load
    with pytest.raises(ImportRefused, match="can run code"):
        import_file(evil, parse_model_name("resnet20"), tmp_path / "runs")
    assert not marker.exists()
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(ImportRefused):
        import_file(raw, parse_model_name("resnet20"), tmp_path / "runs")
    assert not marker.exists()
    assert not list_runs(tmp_path / "runs").runs  # nothing half-made


def test_oversized_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(5000)  # sparse file
    reads = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or b"")
    with pytest.raises(ImportRefused, match="more than the 1,000 allowed"):
        import_file(big, parse_model_name("resnet20"), tmp_path / "runs", max_bytes=1000)
    assert reads == []


@pytest.mark.parametrize("name,data,match", [
    ("x.safetensors", b"\x00" * 20, "neither a safetensors file nor a PyTorch checkpoint"),
    ("x.pt", b"not a zip", "neither a safetensors file nor a PyTorch checkpoint"),
    ("x.onnx", b"", "expected one of .th, .tar, .ckpt, .bin, .pt, .pth, .safetensors"),
])
def test_garbage_files(name, data, match):
    with pytest.raises(ImportRefused, match=match):
        read_weights(data, name)


def test_cli_import(tmp_path, explorer_cli):
    src = build_model("resnet8")
    f = tmp_path / "m.pth"
    torch.save(kuangliu_style(src), f)
    r = _cli("import", f, "--model", "resnet8", "--root", tmp_path / "r")
    assert r.returncode == 0 and "imported" in r.stdout, r.stderr
    code, _, err = explorer_cli("import", f, "--model", "resnet20", "--root", tmp_path / "r")
    assert code == 2 and "does not match resnet20" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- the common CIFAR ResNet layout
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_cifar_resnet_th_file_imports_with_equal_logits(tmp_path, legacy):
    src = randomized("resnet20")
    keys = akamaster_layout(src)
    assert "module.layer1.0.conv1.weight" in keys and "module.linear.weight" in keys and "module.bn1.running_mean" in keys
    assert not any("shortcut" in k for k in keys)  # option A: no parameters
    th = tmp_path / "resnet20-12fca82f.th"
    torch.save({"state_dict": keys, "best_prec1": 91.2}, th, _use_new_zipfile_serialization=not legacy)
    assert sniff(th.read_bytes()) == ("legacy" if legacy else "zip")
    run = import_file(th, src.spec, tmp_path / "runs")
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(run.load_model()(x), src(x), atol=1e-5, rtol=0)
    rec = open_run(tmp_path / "runs", run.id).record
    assert rec.train is None and rec.provenance.import_source.file == th.name
    assert rec.provenance.import_source.sha256 == hashlib.sha256(th.read_bytes()).hexdigest()


class _Lambda(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class _AkaBlock(torch.nn.Module):
    """The BasicBlock of the common CIFAR ResNet code, option A, written out independently."""

    def __init__(self, inp, planes, stride):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != planes:
            self.shortcut = _Lambda(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class _AkaResNet(torch.nn.Module):
    def __init__(self, n=3, classes=10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        inp, layers = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(_AkaBlock(inp, planes, s))
                inp = planes
            layers.append(torch.nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = torch.nn.Linear(64, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.avg_pool2d(out, out.size()[3]).view(out.size(0), -1))


def test_the_common_code_itself_maps_onto_the_explorer_model(tmp_path):
    """Weights of an independent copy of that code's resnet20 give the same logits in the explorer's model."""
    torch.manual_seed(3)
    aka = _AkaResNet()
    for mod in aka.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    aka.eval()
    sd = {"module." + k: v for k, v in aka.state_dict().items() if not k.endswith("num_batches_tracked")}
    th = tmp_path / "resnet20-x.th"
    torch.save({"state_dict": sd, "best_prec1": 91.2}, th, _use_new_zipfile_serialization=False)
    run = import_file(th, parse_model_name("resnet20"), tmp_path / "runs")
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(run.load_model()(x), aka(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("wrap", [
    lambda sd: {"model": {"state_dict": sd}, "epoch": 3},
    lambda sd: {"net": {k.replace("module.", "module.module."): v for k, v in sd.items()}},
    lambda sd: {"state_dict": {k.replace("module.", "model._orig_mod."): v for k, v in sd.items()}, "hparams": {"lr": 0.1}},
    lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.1}]}},
], ids=["nested-two-levels", "double-module", "lightning-compiled", "model_state_dict"])
@pytest.mark.parametrize("ext", [".ckpt", ".bin", ".tar", ".pth"])
def test_containers_and_prefixes_unwrap(tmp_path, wrap, ext):
    src = randomized("resnet8")
    f = tmp_path / f"w{ext}"
    torch.save(wrap(akamaster_layout(src, counters=True)), f)
    loaded = import_file(f, src.spec, tmp_path / "runs").load_model().state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in src.state_dict().items())


def test_format_is_judged_by_content_not_name(tmp_path):
    src = randomized("resnet8")
    st_named_pt = tmp_path / "really-safetensors.pt"
    st_named_pt.write_bytes(save({k: v.contiguous() for k, v in src.state_dict().items()}))
    zip_named_st = tmp_path / "really-zip.safetensors"
    torch.save(src.state_dict(), zip_named_st)
    for f in (st_named_pt, zip_named_st):
        loaded = import_file(f, src.spec, tmp_path / "runs").load_model().state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in src.state_dict().items())


def test_other_extensions_refused_in_one_sentence(tmp_path):
    f = tmp_path / "model.onnx"
    torch.save(build_model("resnet8").state_dict(), f)
    with pytest.raises(ImportRefused) as e:
        import_file(f, parse_model_name("resnet8"), tmp_path / "runs")
    assert str(e.value) == ("model.onnx is not a weights file this importer accepts; expected one of .th, .tar, .ckpt, "
                            ".bin, .pt, .pth, .safetensors.")


# ----------------------------------------------------------------------------- input normalisation
@pytest.mark.parametrize("text,kind,mean,std", [
    ("data", "data", None, None),
    ("cifar10", "cifar10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ("ImageNet", "imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ("0.5,0.5,0.5/0.25, 0.25,0.25", "custom", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
])
def test_normalization_choices(text, kind, mean, std):
    n = parse_normalization(text)
    assert (n.kind, n.mean, n.std) == (kind, mean, std)


@pytest.mark.parametrize("text,match", [
    ("cifar100", "Unknown normalisation 'cifar100'; expected data, cifar10, imagenet, or three means"),
    ("0.5,0.5/0.2,0.2,0.2", "needs three means separated by commas"),
    ("0.5,0.5,0.5/0.2,x,0.2", "needs three stds separated by commas"),
    ("0.5,0.5,0.5/0.2,0,0.2", "out of range"),
    ("125.3,123.0,113.9/63.0,62.1,66.7", r"divide 0-255 values by 255"),
    ("nan,0.5,0.5/0.2,0.2,0.2", "needs three means"),
])
def test_bad_normalization_is_one_sentence(text, match):
    with pytest.raises(NormalizationError, match=match) as e:
        parse_normalization(text)
    assert str(e.value).endswith(".") and "\n" not in str(e.value)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_cli_import_records_normalization(tmp_path, explorer_cli):
    f = tmp_path / "resnet8-x.th"
    torch.save({"state_dict": akamaster_layout(randomized("resnet8")), "best_prec1": 91.2}, f)
    root = tmp_path / "r"
    r = _cli("import", f, "--model", "resnet8", "--root", root, "--normalization", "cifar10")  # the real command
    assert r.returncode == 0 and "normalisation: cifar10, mean 0.4914, 0.4822, 0.4465" in r.stdout, r.stderr
    code, _, err = explorer_cli("import", f, "--model", "resnet8", "--root", root, "--data", "digits")
    assert code == 0, err
    code, _, err = explorer_cli("import", f, "--model", "resnet8", "--root", root, "--normalization",
                                "0.1,0.2,0.3/0.4,0.5,0.6")
    assert code == 0, err
    code, out, err = explorer_cli("import", f, "--model", "resnet8", "--root", root)
    assert code == 0 and "the data set's own (taken at evaluation)" in out, err
    from explorer.data import load_digits
    d_mean, d_std = (tuple(float(v) for v in t) for t in load_digits().mean_std())  # full precision, as training normalises
    records = [open_run(root, p.name).record for p in root.iterdir()]
    by = {(rec.data.normalization, rec.data.name): rec.data for rec in records}
    assert len(by) == 4
    assert (by["cifar10", None].mean, by["cifar10", None].std) == ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    assert (by["data", "digits"].mean, by["data", "digits"].std) == (d_mean, d_std)  # the data set's own statistics
    assert (by["custom", None].mean, by["custom", None].std) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    assert (by["data", None].mean, by["data", None].std) == (None, None)  # no data set given: left empty
    for rec in records:
        assert rec.train is None and rec.provenance.import_source.file == "resnet8-x.th"
        assert rec.provenance.import_source.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    code, _, err = explorer_cli("import", f, "--model", "resnet8", "--root", root, "--normalization", "0.5/0.5")
    assert code == 2 and err.count("\n") == 1 and "needs three means" in err, err
    assert len(list(root.iterdir())) == 4  # nothing made for the refused one
