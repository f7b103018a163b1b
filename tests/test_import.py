"""Import of outside weights, and files that must be refused without running any code."""
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from explorer.importer import ImportRefused, import_file, map_state_dict, read_weights
from explorer.models import build_model, parse_model_name
from explorer.runs import RunError, list_runs, open_run, validate_run

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


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


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


def test_cli_import(tmp_path):
    src = build_model("resnet8")
    f = tmp_path / "m.pth"
    torch.save(kuangliu_style(src), f)
    r = subprocess.run([sys.executable, "-m", "explorer", "import", str(f), "--model", "resnet8", "--root", str(tmp_path / "r")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "imported" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "explorer", "import", str(f), "--model", "resnet20", "--root", str(tmp_path / "r")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "does not match resnet20" in r.stderr and "Traceback" not in r.stderr
