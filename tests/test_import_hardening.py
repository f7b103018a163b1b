"""Weights files are checked before they are unpacked: decompression and allocation bombs in every format,
integer and non-finite weights, and every refusal one complete sentence."""
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from explorer.importer import ImportRefused, import_file, read_weights
from explorer.models import build_model, parse_model_name
from explorer.runs import list_runs
from helpers import Payload, randomized

ROOT = Path(__file__).resolve().parents[1]


def _zip_with(data: bytes, replace: dict, drop=(), compress=zipfile.ZIP_STORED) -> bytes:
    """A copy of a torch zip with members (by name suffix) replaced: bytes, or a chunk generator."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for m in src.infolist():
            suffix = next((s for s in replace if m.filename.endswith(s)), None)
            if any(m.filename.endswith(d) for d in drop):
                continue
            if suffix is None:
                z.writestr(m, src.read(m))
                continue
            new = replace[suffix]
            with z.open(zipfile.ZipInfo(m.filename), "w") if not callable(new) else \
                    z.open(_deflated(m.filename, compress), "w") as f:
                for chunk in (new() if callable(new) else [new]):
                    f.write(chunk)
    return out.getvalue()


def _deflated(name, compress):
    info = zipfile.ZipInfo(name)
    info.compress_type = compress
    info._compresslevel = 9
    return info


def _one_tensor_zip(n=7) -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.arange(float(n))}, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    """~1 MB: a torch zip whose tensor member is 1 GiB of deflated zeros."""
    chunks = lambda: (bytes(16 * 2**20) for _ in range(64))  # noqa: E731 - 64 x 16 MiB, never all in memory
    data = _zip_with(_one_tensor_zip(), {"/data/0": chunks}, compress=zipfile.ZIP_DEFLATED)
    path = tmp_path_factory.mktemp("bomb") / "bomb.pt"
    path.write_bytes(data)
    return path


MEASURE = """
import resource, sys
from explorer.importer import ImportRefused, import_file
from explorer.models import parse_model_name
spec = parse_model_name("resnet8")
import_file.__globals__["model_bytes"](spec)  # warm up everything the import itself needs
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    import_file(sys.argv[1], spec, sys.argv[2])
    print("IMPORTED")
except ImportRefused as e:
    print("REFUSED", e)
print("GROWTH_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_zip_bomb_refused_without_growing(zip_bomb, tmp_path):
    assert zip_bomb.stat().st_size < 2 * 2**20
    r = subprocess.run([sys.executable, "-c", MEASURE, str(zip_bomb), str(tmp_path / "runs")], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = r.stdout.splitlines()
    assert r.returncode == 0 and out[0].startswith("REFUSED bomb.pt declares 1,073,7"), r.stdout + r.stderr
    growth_kb = int(out[-1].split()[1])
    assert growth_kb < 100 * 1024, f"the process grew by {growth_kb / 1024:.0f} MB"
    assert not list_runs(tmp_path / "runs").runs


def test_zip_member_compressed_absurdly_is_refused():
    ten_mb = lambda: [bytes(10 * 2**20)]  # noqa: E731 - well under the limit, but ~1000:1
    data = _zip_with(_one_tensor_zip(), {"/data/0": ten_mb}, compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(ImportRefused, match="compressed more than 100 to 1.*decompression bomb"):
        read_weights(data, "w.pt")


def test_zip_storage_larger_than_its_member_is_refused():
    data = _one_tensor_zip(7)
    pkl = zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    assert pkl.count(b"cpuq\x06K\x07") == 1
    crafted = _zip_with(data, {"/data.pkl": pkl.replace(b"cpuq\x06K\x07", b"cpuq\x06J\x00\x00\x00\x40")})  # 2**30 floats
    with pytest.raises(ImportRefused, match="declares a tensor of 4,294,967,296 bytes that its file does not hold"):
        read_weights(crafted, "w.pt")


def test_zip_over_the_model_bound_is_refused():
    src = build_model("resnet8")
    buf = io.BytesIO()
    torch.save({"state_dict": src.state_dict(), "junk": torch.zeros(5 * 2**20)}, buf)  # 20 MB next to 0.3 MB of weights
    with pytest.raises(ImportRefused, match=r"more than the .* a file of this model may hold \(twice its weights plus 16 MB\)"):
        import_file(None, src.spec, Path("/nonexistent"), data=buf.getvalue(), filename="big.pt")


def _legacy(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def test_legacy_declaring_more_than_it_holds_is_refused():
    data = _legacy({"w": torch.arange(7.)})
    assert data.count(b"cpuq\x06K\x07") == 1
    crafted = data.replace(b"cpuq\x06K\x07", b"cpuq\x06J\x00\x00\x00\x01")  # 2**24 floats in a 0.5 KB file
    with pytest.raises(ImportRefused, match="declares 67,108,864 bytes of tensors but holds only 28"):
        read_weights(crafted, "w.th")
    with pytest.raises(ImportRefused, match="declares 28 bytes of tensors, more than the 20"):
        read_weights(data, "w.th", limit=20)
    assert torch.equal(read_weights(data, "w.th")["w"], torch.arange(7.))  # the honest file loads


def test_safetensors_header_checked_before_loading():
    data = save({"w": torch.zeros(1000)})
    with pytest.raises(ImportRefused, match="declares 4,000 bytes of tensors, more than the 100"):
        read_weights(data, "w.safetensors", limit=100)
    n = int.from_bytes(data[:8], "little")
    header = data[8:8 + n].replace(b"[1000]", b"[9000]")
    with pytest.raises(ImportRefused, match="tensor w does not fit the bytes it points to"):
        read_weights(data[:8] + header + data[8 + n:], "w.safetensors")


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int32])
def test_integer_weights_are_refused_not_cast(tmp_path, dtype):
    src = build_model("resnet8")
    sd = dict(src.state_dict())
    sd["stages.1.0.conv1.weight"] = torch.ones_like(sd["stages.1.0.conv1.weight"], dtype=dtype)
    f = tmp_path / "q.pt"
    torch.save(sd, f)
    with pytest.raises(ImportRefused, match=rf"holds {str(dtype)[6:]} values for stages.1.0.conv1.weight where the "
                                            "model has floating-point weights"):
        import_file(f, src.spec, tmp_path / "runs")


def test_float16_weights_are_converted(tmp_path):
    src = randomized("resnet8")
    f = tmp_path / "half.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in src.state_dict().items()}, f)
    loaded = import_file(f, src.spec, tmp_path / "runs").load_model().state_dict()
    assert torch.equal(loaded["fc.weight"], src.state_dict()["fc.weight"].half().float())


def test_non_finite_weights_are_refused(tmp_path):
    src = build_model("resnet8")
    sd = dict(src.state_dict())
    sd["fc.bias"] = torch.full_like(sd["fc.bias"], float("nan"))
    f = tmp_path / "nan.pt"
    torch.save(sd, f)
    with pytest.raises(ImportRefused, match=r"non-finite values \(NaN or infinity\) in fc.bias"):
        import_file(f, src.spec, tmp_path / "runs")


def _bad_files(tmp_path):
    good = _one_tensor_zip()
    long_dir = tmp_path / ("d" * 150)
    long_dir.mkdir()
    yield "missing", long_dir / "nothing.pt"
    yield "torch-error", _zip_with(good, {}, drop=["archive/version"])  # torch: 'Expected hasRecord("version") ...'
    yield "truncated-zip", good[: len(good) // 2]
    yield "truncated-legacy", _legacy({"w": torch.arange(7.)})[:200]
    yield "not-a-state-dict", _legacy([1, 2, 3])
    yield "safetensors-garbage-tail", save({"w": torch.zeros(3)})[:-4]
    yield "pickle-payload", None


@pytest.mark.parametrize("case", ["missing", "torch-error", "truncated-zip", "truncated-legacy", "not-a-state-dict",
                                  "safetensors-garbage-tail", "pickle-payload"])
def test_every_refusal_is_one_complete_sentence(tmp_path, case):
    payload = dict(_bad_files(tmp_path))[case]
    if case == "pickle-payload":
        payload = tmp_path / "evil.pt"
        torch.save({"state_dict": Payload(str(tmp_path / "pwned"))}, payload)
    if isinstance(payload, bytes):
        path = tmp_path / "bad.pt"
        path.write_bytes(payload)
    else:
        path = payload
    with pytest.raises(ImportRefused) as e:
        import_file(path, parse_model_name("resnet8"), tmp_path / "runs")
    msg = str(e.value)
    assert msg.endswith(".") and "\n" not in msg and len(msg) < 400, msg
    assert "Could this error message" not in msg and "hasRecord" not in msg, msg  # torch's words never leak
    if case == "missing":
        assert "…" in msg and len(msg) < 150  # the long path is shortened
    if case == "torch-error":
        assert msg == "bad.pt is not a PyTorch file this version can read; it may be damaged or truncated."

