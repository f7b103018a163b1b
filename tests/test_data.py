import time
import zipfile

import numpy as np
import pytest
import torch

from explorer.data import (CIFAR10_CLASSES, DataError, augment_batch, load_dataset, load_digits, load_folder,
                           normalize, probe_set)
from helpers import image_tree, png_bytes, write_folder, write_zip


def test_digits_loads_and_is_stratified():
    ds = load_digits()
    assert ds.train_x.shape == (1257, 3, 32, 32) and ds.test_x.shape == (540, 3, 32, 32)
    assert ds.train_x.dtype == torch.uint8 and ds.classes == [str(i) for i in range(10)]
    assert torch.equal(ds.train_x[:, 0], ds.train_x[:, 2])  # grey replicated to RGB
    counts = ds.test_y.bincount()
    assert counts.min() >= 50 and counts.max() - counts.min() <= 3  # stratified: every class has 30% of its images
    assert load_digits().fingerprint == ds.fingerprint


def test_folder_and_zip_load_the_same(tmp_path):
    files = image_tree()
    a = load_folder(write_folder(tmp_path / "f", files))
    b = load_folder(write_zip(tmp_path / "f.zip", files))
    assert a.classes == b.classes == ["cat", "dog", "eel"]
    assert a.train_x.shape == (18, 3, 32, 32) and a.test_x.shape == (12, 3, 32, 32)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert a.fingerprint == b.fingerprint
    # the pixels are the decoded PNG's
    from PIL import Image
    import io
    first = np.asarray(Image.open(io.BytesIO(files["train/cat/000.png"]))).transpose(2, 0, 1)
    assert np.array_equal(a.train_x[0].numpy(), first)


def test_zip_wrapped_in_one_folder(tmp_path):
    files = {f"cifar/{k}": v for k, v in image_tree().items()}
    assert load_folder(write_zip(tmp_path / "w.zip", files)).num_classes == 3


def test_cache_is_used_and_complete(tmp_path):
    files = image_tree()
    path = write_zip(tmp_path / "d.zip", files)
    cache = tmp_path / "c"
    a = load_folder(path, cache)
    cached = list((cache / "datasets").glob("*.npz"))
    assert len(cached) == 1 and not list((cache / "datasets").glob("*.tmp"))
    b = load_folder(path, cache)
    assert torch.equal(a.train_x, b.train_x) and a.fingerprint == b.fingerprint
    cached[0].write_bytes(b"garbage")  # a damaged cache is rebuilt, not trusted
    c = load_folder(path, cache)
    assert torch.equal(a.train_x, c.train_x)


@pytest.mark.parametrize("mutate,match", [
    (lambda f: {k: v for k, v in f.items() if not k.startswith("test/eel")}, "only in train: eel"),
    (lambda f: {**f, "train/cat/notes.txt": b"hello"}, "not an image"),
    (lambda f: {**f, "train/cat/big.png": png_bytes(1, (40, 40))}, "expected 32x32"),
    (lambda f: {**f, "train/cat/bad.jpg": b"\xff\xd8\xff not a jpeg"}, "could not be decoded"),
    (lambda f: {**f, "train/cat/empty.png": b""}, "could not be decoded"),
    (lambda f: {k: v for k, v in f.items() if k.startswith("train/")}, "no images under test/"),
    (lambda f: {k.replace("train/cat/", "train/"): v for k, v in f.items()}, "unexpected entry"),
    (lambda f: {k: v for k, v in f.items() if "/cat/" in k}, "at least 2"),
])
def test_bad_folders_give_one_clear_error(tmp_path, mutate, match):
    files = mutate(image_tree())
    for src in (write_folder(tmp_path / "f", files), write_zip(tmp_path / "f.zip", files)):
        with pytest.raises(DataError, match=match) as e:
            load_folder(src, False)
        assert "\n" not in str(e.value)


def test_missing_and_empty_paths(tmp_path):
    with pytest.raises(DataError, match="No such data folder"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images under train/"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="not a .zip"):
        load_dataset(tmp_path / "x.txt")


def test_grayscale_and_rgba_become_rgb(tmp_path):
    files = image_tree()
    files["train/cat/g.png"] = png_bytes(5, mode="L")
    files["train/cat/a.png"] = png_bytes(6, mode="RGBA")
    ds = load_folder(write_folder(tmp_path / "f", files), False)
    assert ds.train_x.shape == (20, 3, 32, 32)


def test_zip_escaping_names_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../x/train/cat/1.png", png_bytes(1))
    with pytest.raises(DataError, match="outside the archive"):
        load_folder(path, tmp_path / "cache")
    assert not (tmp_path / "x").exists()


def test_cifar10_missing_names_both_fixes(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", root=tmp_path)
    msg = str(e.value)
    assert "download" in msg and "cifar10-jpeg.zip" in msg


def test_probe_set_stratified_and_deterministic():
    ds = load_digits()
    a, b = probe_set(ds), probe_set(load_digits())
    assert len(a.indices) == 500 and a.labels.bincount().tolist() == [50] * 10
    assert torch.equal(a.indices, b.indices) and a.hash == b.hash
    assert torch.equal(a.images, ds.test_x[a.indices])
    assert probe_set(ds, seed=1).hash != a.hash
    assert a.note == ""


def test_probe_set_small_classes_say_so(tmp_path):
    ds = load_folder(write_folder(tmp_path / "f", image_tree(n_test=4)), False)
    p = probe_set(ds)
    assert len(p.indices) == 12 and "Fewer than 166" in p.note


def test_augment_batch_is_crop_and_flip():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    out = augment_batch(x, g)
    assert out.shape == x.shape
    for i in range(2):  # each output is a shifted (maybe flipped) window of the zero-padded input
        padded = torch.nn.functional.pad(x[i], (4, 4, 4, 4))
        found = any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2))
                    for dy in range(9) for dx in range(9) for w in [padded[:, dy:dy + 32, dx:dx + 32]])
        assert found
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(augment_batch(x, g1), augment_batch(x, g2))


def test_normalize_uses_train_statistics():
    ds = load_digits()
    mean, std = ds.mean_std()
    x = normalize(ds.train_x, mean, std)
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_cifar10_jpeg_zip(cifar_zip, tmp_path):
    ds = load_dataset(cifar_zip, cache_dir=tmp_path / "c")
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.test_x.shape == (10000, 3, 32, 32)
    assert ds.classes == CIFAR10_CLASSES and ds.description == "CIFAR-10 (JPEG copy)"
    p = probe_set(ds)
    assert len(p.indices) == 500 and p.labels.bincount().tolist() == [50] * 10
    t = time.perf_counter()
    again = load_dataset(cifar_zip, cache_dir=tmp_path / "c")
    assert again.fingerprint == ds.fingerprint and probe_set(again).hash == p.hash
    print(f"cached load of the 60,000-image zip: {time.perf_counter() - t:.2f} s")


def test_zip_with_absurd_declared_size_refused(tmp_path):
    """A zip bomb: a tiny archive whose member inflates to 11 MB is refused by its declared size,
    before anything is decompressed or written to the cache."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("train/cat/1.png", b"\0" * (11 * 1024 * 1024))
        z.writestr("test/cat/1.png", png_bytes(1))
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match="declares 11,534,336 bytes"):
        load_folder(path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
