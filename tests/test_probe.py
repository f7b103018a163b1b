"""The shipped probe set and which probe images a run is analysed on (resolve_probe)."""
import pytest
import torch

from explorer import settings
from explorer.data import (CIFAR10_CLASSES, JPEG_COPY, DataError, content_fingerprint, load_dataset, load_digits,
                           load_folder, load_shipped_probe, make_dataset, probe_set, read_probe_file, resolve_probe,
                           shipped_probe_path, write_shipped_probe)
from explorer.data import resolve as resolve_mod
from helpers import image_tree, write_folder, write_zip


def test_shipped_probe_loads_and_verifies():
    p = load_shipped_probe()
    assert p.images.shape == (500, 3, 32, 32) and p.images.dtype == torch.uint8
    assert p.indices.dtype == torch.int64 and p.labels.dtype == torch.int64
    assert p.labels.bincount(minlength=10).tolist() == [50] * 10
    assert p.classes == CIFAR10_CLASSES and p.description == JPEG_COPY
    assert content_fingerprint(p.indices, p.labels, p.images) == p.hash  # recomputed here, not trusted
    assert len(p.indices.unique()) == 500 and int(p.indices.max()) < 10000
    for c in range(10):  # sorted by (class, test index), as probe_set draws it
        idx = p.indices[p.labels == c]
        assert torch.equal(idx, idx.sort().values)
    assert load_shipped_probe(p.data_fingerprint).hash == p.hash
    assert shipped_probe_path().stat().st_size < 2_000_000


def test_shipped_probe_is_bit_identical_to_the_zip(cifar_zip, tmp_path, monkeypatch):
    ds = load_dataset(cifar_zip)  # decoded once into this test's cache, read from it below
    fresh, shipped = probe_set(ds), load_shipped_probe()
    assert torch.equal(fresh.indices, shipped.indices) and torch.equal(fresh.labels, shipped.labels)
    assert torch.equal(fresh.images, shipped.images) and fresh.hash == shipped.hash
    assert shipped.data_fingerprint == ds.fingerprint and shipped.description == ds.description
    again = write_shipped_probe(ds, tmp_path / "p.safetensors")  # regenerating gives the same bytes
    assert again.read_bytes() == shipped_probe_path().read_bytes()
    # a run trained on the zip elsewhere finds the copy on this machine, and the same probe images
    monkeypatch.setattr(settings, "SHARED_CIFAR_ZIP", cifar_zip)
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "no-torchvision"))
    r = resolve_probe("/elsewhere/cifar10-jpeg.zip", ds.fingerprint, CIFAR10_CLASSES, JPEG_COPY)
    assert r.origin == "the CIFAR-10 JPEG copy on this machine" and r.note == "" and r.probe.hash == shipped.hash


def test_probe_file_roundtrip_and_unknown_fingerprint(tmp_path, monkeypatch):
    ds = load_digits()
    monkeypatch.setattr(settings, "PROBE_DIR", tmp_path)
    out = write_shipped_probe(ds, tmp_path / "digits.safetensors")
    back, fresh = load_shipped_probe(ds.fingerprint), probe_set(ds)
    assert torch.equal(back.images, fresh.images) and back.hash == fresh.hash and back.classes == ds.classes
    from safetensors.torch import load  # the official reader agrees with our writer
    assert torch.equal(load(out.read_bytes())["indices"], fresh.indices)
    with pytest.raises(DataError, match="No shipped probe set"):
        load_shipped_probe("0" * 16)
    with pytest.raises(DataError, match="No probe file"):
        load_shipped_probe()  # the CIFAR-10 file is not in this folder


def _rewrite(path, tensors, meta):
    from safetensors.torch import save
    path.write_bytes(save(tensors, metadata=meta))


@pytest.mark.parametrize("change,match", [
    (lambda t, m: t["images"].view(-1).__setitem__(0, t["images"].view(-1)[0] ^ 1), "altered or damaged"),
    (lambda t, m: t.__setitem__("images", t["images"].float()), "expected uint8"),
    (lambda t, m: t.__setitem__("labels", t["labels"][:-1]), "expected int64"),
    (lambda t, m: t.__setitem__("labels", t["labels"] + 7), "labels outside"),
    (lambda t, m: t.__setitem__("extra", t["labels"].clone()), "expected the tensors"),
    (lambda t, m: m.__setitem__("classes", "not json"), "class names"),
    (lambda t, m: m.__setitem__("format", "other"), "not a probe file"),
])
def test_damaged_probe_file_refused(tmp_path, change, match):
    src = write_shipped_probe(load_digits(), tmp_path / "a.safetensors")
    from safetensors import safe_open
    with safe_open(str(src), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k).clone() for k in f.keys()}
    change(tensors, meta)
    _rewrite(src, tensors, meta)
    with pytest.raises(DataError, match=match) as e:
        read_probe_file(src)
    assert "\n" not in str(e.value)


def test_garbage_probe_file_refused(tmp_path):
    bad = tmp_path / "g.safetensors"
    bad.write_bytes(b"\xff" * 100)
    with pytest.raises(DataError, match="not a readable safetensors"):
        read_probe_file(bad)


# ----------------------------------------------------------------------------- resolve_probe
@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """No CIFAR-10 anywhere: the shared zip and torchvision's root point at empty places."""
    monkeypatch.setattr(settings, "SHARED_CIFAR_ZIP", tmp_path / "none" / "cifar10-jpeg.zip")
    (tmp_path / "tv").mkdir()
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "tv"))
    return tmp_path


def _cifar_like_zip(path):
    return write_zip(path, image_tree(classes=tuple(CIFAR10_CLASSES), n_train=2, n_test=3))


def test_resolve_own_data(bare_machine):
    ds = load_digits()
    r = resolve_probe("digits", ds.fingerprint, ds.classes, ds.description)
    assert r.origin == "the run's own data" and r.note == "" and r.probe.hash == probe_set(ds).hash
    folder = write_folder(bare_machine / "f", image_tree())
    own = load_folder(folder)
    r = resolve_probe(str(folder), own.fingerprint, own.classes, own.description)
    assert r.origin == "the run's own data" and r.probe.hash == probe_set(own).hash
    r = resolve_probe(str(folder), "0" * 16, own.classes, own.description)  # the files changed since training
    assert r.origin == "the run's own data" and "not the data the run was trained on" in r.note


def test_resolve_jpeg_copy_on_this_machine(bare_machine, monkeypatch):
    zip_path = _cifar_like_zip(bare_machine / "shared.zip")
    monkeypatch.setattr(settings, "SHARED_CIFAR_ZIP", zip_path)
    r = resolve_probe("/elsewhere/cifar10-jpeg.zip", "0" * 16, CIFAR10_CLASSES, JPEG_COPY)
    assert r.origin == "the CIFAR-10 JPEG copy on this machine"
    assert r.probe.hash == probe_set(load_folder(zip_path)).hash and "probe hash differs" in r.note


def test_resolve_torchvision_cifar10(bare_machine, monkeypatch):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.arange(40) % 10
    fake = make_dataset("cifar10", "CIFAR-10", x, y, x, y, CIFAR10_CLASSES)  # stands in for the 170 MB download
    monkeypatch.setattr(resolve_mod, "cifar10_present", lambda root=None: True)
    monkeypatch.setattr(resolve_mod, "load_cifar10", lambda root=None: fake)
    r = resolve_probe("../shared/data/cifar10-jpeg.zip-moved", "e" * 16, CIFAR10_CLASSES, JPEG_COPY)
    assert r.origin == "torchvision's CIFAR-10 on this machine" and r.probe.hash == probe_set(fake).hash
    assert "original, not the JPEG copy" in r.note and "probe hash differs" in r.note


def test_resolve_shipped_probe(bare_machine):
    shipped = load_shipped_probe()
    r = resolve_probe("/gone/cifar10-jpeg.zip", shipped.data_fingerprint, CIFAR10_CLASSES, JPEG_COPY)
    assert r.origin == "the shipped probe set" and r.note == "" and r.probe.hash == shipped.hash and r.dataset is None
    r = resolve_probe("/gone/cifar10-jpeg.zip", "1" * 16, CIFAR10_CLASSES, JPEG_COPY)  # same description and classes
    assert r.origin == "the shipped probe set" and "fingerprint" in r.note


def test_resolve_shipped_by_fingerprint_for_any_data(bare_machine, monkeypatch):
    folder = write_folder(bare_machine / "f", image_tree())
    ds = load_folder(folder, False)
    monkeypatch.setattr(settings, "PROBE_DIR", bare_machine / "probe")
    write_shipped_probe(ds, bare_machine / "probe" / "mine.safetensors")
    r = resolve_probe(str(bare_machine / "moved"), ds.fingerprint, ds.classes, ds.description)
    assert r.origin == "the shipped probe set" and r.probe.hash == probe_set(ds).hash


def test_resolve_nothing_says_how_to_get_the_data(bare_machine, monkeypatch):
    monkeypatch.setattr(settings, "PROBE_DIR", bare_machine / "empty")
    with pytest.raises(DataError, match="download-cifar10") as e:
        resolve_probe("/gone/cifar10-jpeg.zip", "1" * 16, CIFAR10_CLASSES, JPEG_COPY)
    assert "\n" not in str(e.value) and str(e.value).count(". ") == 0
    with pytest.raises(DataError, match="give the path of a copy of /gone/mine"):
        resolve_probe("/gone/mine", "1" * 16, ["a", "b"], "image folder mine (2 classes)")


def test_resolve_unreadable_own_data_falls_through(bare_machine):
    bad = bare_machine / "bad.zip"
    bad.write_bytes(b"not a zip")
    shipped = load_shipped_probe()
    r = resolve_probe(str(bad), shipped.data_fingerprint, CIFAR10_CLASSES, JPEG_COPY)
    assert r.origin == "the shipped probe set"
