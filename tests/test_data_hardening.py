"""The data layer facing hostile or broken input: decompression bombs, undecodable files, long
paths, files outside the allowed roots, doctored cache files, and a download with no network."""
import hashlib
import http.server
import io
import os
import struct
import tarfile
import threading
import warnings
import zlib

import numpy as np
import pytest
import torch

from explorer import settings
from explorer.data import DataError, decode_image, download_cifar10, load_dataset, load_folder
from explorer.data import download as download_mod
from explorer.data import folder as folder_mod
from helpers import image_tree, png_bytes, write_folder, write_zip


def huge_png(side: int) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels, all black: tens of KB on disk."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture
def loads(monkeypatch):
    """The sizes of every image PIL actually decodes (allocates)."""
    from PIL import ImageFile
    seen, real = [], ImageFile.ImageFile.load

    def load(self):
        seen.append(self.size)
        return real(self)
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return seen


@pytest.mark.parametrize("side,match", [(20000, "decompression bomb"), (10000, "decompression bomb"),
                                        (2000, "is 2000x2000; expected 32x32")])
def test_huge_images_refused_from_the_header(tmp_path, loads, side, match):
    bomb = huge_png(side)
    if side == 20000:
        assert len(bomb) < 60_000  # 400 million pixels in about 48 KB
    files = {**image_tree(), "train/cat/zz.png": bomb}
    for src in (write_folder(tmp_path / "f", files), write_zip(tmp_path / "f.zip", files)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(DataError, match=match) as e:
                load_folder(src, False)
        assert "zz.png" in str(e.value) and "\n" not in str(e.value)
        assert not [w for w in caught if "DecompressionBomb" in w.category.__name__]
    assert loads and all(s == (32, 32) for s in loads)  # the huge image was never decoded


def test_decode_image_alone_turns_every_failure_into_one_sentence(loads):
    from PIL import Image
    gif = io.BytesIO()
    Image.new("RGB", (32, 32)).save(gif, "GIF")
    cases = {"bomb": huge_png(20000), "truncated": png_bytes(1)[:-30], "gif": gif.getvalue(), "empty": b"",
             "text": b"hello", "jpeg header only": b"\xff\xd8\xff\xe0"}
    for name, data in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning must not escape as anything but our sentence
            with pytest.raises(DataError) as e:
                decode_image(data, name)
        assert str(e.value).startswith(name) and "\n" not in str(e.value)
    assert decode_image(png_bytes(2), "ok").shape == (3, 32, 32)
    assert (20000, 20000) not in loads


def test_paths_in_messages_are_shortened(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    files = {**image_tree(), "train/cat/bad.png": b"nope"}
    src = write_folder(deep / "f", files)
    assert len(str(src)) > 200
    messages = []
    for call in (lambda: load_folder(src, False), lambda: load_dataset(deep / "missing"),
                 lambda: load_dataset(write_zip(deep / "z.zip", files), cache_dir=False)):
        with pytest.raises(DataError) as e:
            call()
        messages.append(str(e.value))
    (deep / "x.txt").write_text("hi")
    with pytest.raises(DataError) as e:
        load_dataset(deep / "x.txt")
    messages.append(str(e.value))
    for m in messages:
        assert str(deep) not in m and "…" in m and len(m) < 400, m


# ----------------------------------------------------------------------------- allowed roots
@pytest.fixture
def roots(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    write_folder(allowed / "f", image_tree())
    outside.mkdir()
    (outside / "secret.png").write_bytes(png_bytes(99))
    return allowed, outside


def test_symlinked_image_pointing_outside_is_refused(roots, tmp_path):
    allowed, outside = roots
    assert load_folder(allowed / "f", False, allowed_roots=[allowed]).num_classes == 3
    os.symlink(outside / "secret.png", allowed / "f" / "train" / "cat" / "link.png")
    cache = tmp_path / "cache"
    load_folder(allowed / "f", cache)  # with no limit the link is read, and cached
    with pytest.raises(DataError, match="link.png.*outside the folders") as e:
        load_folder(allowed / "f", cache, allowed_roots=[allowed])  # the cached copy is not served either
    assert "\n" not in str(e.value)


def test_folder_or_zip_outside_the_roots_is_refused(roots, tmp_path):
    allowed, outside = roots
    write_folder(outside / "g", image_tree())
    z = write_zip(outside / "d.zip", image_tree())
    os.symlink(z, allowed / "link.zip")
    os.symlink(outside / "g", allowed / "g")
    for src in (outside / "g", z, allowed / "link.zip", allowed / "g"):
        with pytest.raises(DataError, match="outside the folders"):
            load_folder(src, False, allowed_roots=[allowed])
    inside = write_zip(allowed / "ok.zip", image_tree())
    assert load_folder(inside, False, allowed_roots=[allowed]).num_classes == 3


def test_deploy_mode_limits_to_the_data_roots(roots, monkeypatch):
    allowed, outside = roots
    write_folder(outside / "g", image_tree())
    monkeypatch.setenv("EXPLORER_DEPLOY", "1")
    monkeypatch.setenv("EXPLORER_DATA_ROOTS", str(allowed))
    assert load_dataset(allowed / "f", cache_dir=False).num_classes == 3
    with pytest.raises(DataError, match="outside the folders"):
        load_dataset(outside / "g", cache_dir=False)
    monkeypatch.setenv("EXPLORER_DEPLOY", "0")
    assert load_dataset(outside / "g", cache_dir=False).num_classes == 3


# ----------------------------------------------------------------------------- the cache
def test_a_loaded_zip_is_reused_until_it_changes(tmp_path, monkeypatch):
    """A process reads an unchanged zip once; a rewritten one (other content, size or mtime) is read again."""
    src = write_zip(tmp_path / "d.zip", image_tree())
    first = load_folder(src, tmp_path / "c")
    real = folder_mod._load_folder

    def refuse(*a, **k):
        raise AssertionError("the unchanged zip was read again")
    monkeypatch.setattr(folder_mod, "_load_folder", refuse)
    assert load_folder(src, tmp_path / "c") is first
    tree = image_tree()
    tree["train/cat/extra.png"] = tree[next(k for k in tree if k.startswith("train/cat/"))]
    write_zip(src, tree)
    monkeypatch.setattr(folder_mod, "_load_folder", real)
    changed = load_folder(src, tmp_path / "c")
    assert len(changed.train_x) == len(first.train_x) + 1 and changed.fingerprint != first.fingerprint


def _cached(tmp_path):
    """A small zip loaded once: (zip, cache folder, the data set, its cache file, the file's arrays)."""
    src = write_zip(tmp_path / "d.zip", image_tree())
    cache = tmp_path / "c"
    good = load_folder(src, cache)
    (path,) = (cache / "datasets").glob("*.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return src, cache, good, path, arrays


@pytest.mark.parametrize("name,bad", [
    ("train_x", lambda a: a.astype(np.float32)),
    ("train_x", lambda a: a[:, :, :16, :16]),
    ("test_x", lambda a: a[:, :1]),
    ("train_y", lambda a: a.astype(np.int32)),
    ("test_y", lambda a: a[:-1]),
    ("train_y", lambda a: a + 5),
    ("classes", lambda a: a[:1]),
    ("fingerprint", lambda a: np.array("not hex")),
    ("key", lambda a: np.array("another listing")),
])
def test_cache_of_the_wrong_shape_or_dtype_is_a_miss(tmp_path, name, bad):
    src, cache, good, path, arrays = _cached(tmp_path)
    arrays[name] = bad(arrays[name])
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    folder_mod.forget_loaded()  # as in a new process: this one keeps the zips it has loaded
    again = load_folder(src, cache)
    assert torch.equal(again.train_x, good.train_x) and torch.equal(again.test_y, good.test_y)
    assert again.classes == good.classes and again.fingerprint == good.fingerprint
    with np.load(path) as z:  # rebuilt: the doctored file is gone
        assert z[name].dtype == {"train_x": np.uint8, "test_x": np.uint8}.get(name, z[name].dtype)
        assert z["train_x"].shape == tuple(good.train_x.shape)


def test_a_compressed_cache_file_is_a_miss_unread(tmp_path):
    """A member deflated could unpack to far more than the file's size: only np.savez's stored members are read."""
    src, cache, good, path, arrays = _cached(tmp_path)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)  # the same arrays, deflated
    from explorer.data import cache as cache_mod
    assert cache_mod.read_cached(path, str(arrays["key"])) is None and not path.exists()
    folder_mod.forget_loaded()
    assert torch.equal(load_folder(src, cache).train_x, good.train_x)  # rebuilt from the images


# ----------------------------------------------------------------------------- download
def test_download_offline_fails_at_once_with_one_sentence(tmp_path):
    root = tmp_path / "tv"
    seen = []
    with pytest.raises(DataError) as e:
        download_cifar10(root, progress=lambda f, m: seen.append((f, m)), url="http://127.0.0.1:9/cifar-10-python.tar.gz")
    msg = str(e.value)
    assert msg.startswith("CIFAR-10 could not be downloaded (no internet connection?);") and "\n" not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert not root.exists()  # nothing half-written, not even the folder it made
    (root / "keep").mkdir(parents=True)
    with pytest.raises(DataError, match="could not be downloaded"):
        download_cifar10(root, url="http://127.0.0.1:9/x.tar.gz")
    assert [p.name for p in root.iterdir()] == ["keep"]


@pytest.fixture
def serve(tmp_path):
    """A local HTTP server for one file: a download without the internet."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path / "www"), **k)

        def log_message(self, *a):
            pass
    (tmp_path / "www").mkdir()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    def put(name: str, data: bytes) -> str:
        (tmp_path / "www" / name).write_bytes(data)
        return f"http://127.0.0.1:{srv.server_address[1]}/{name}"
    yield put
    srv.shutdown()
    srv.server_close()


def test_download_damaged_archive_refused_and_removed(serve, tmp_path):
    url = serve("c.tar.gz", os.urandom(300_000))
    seen = []
    root = tmp_path / "tv"
    with pytest.raises(DataError, match="damaged"):
        download_cifar10(root, progress=lambda f, m: seen.append(f), url=url)
    assert not root.exists()
    fracs = [f for f in seen if f > 0]
    assert fracs and fracs == sorted(fracs) and max(fracs) <= 0.9 + 1e-9  # bytes arrived and were reported


def test_download_verified_archive_is_unpacked_into_place(serve, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    data = buf.getvalue()
    from torchvision.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(download_mod, "load_cifar10", lambda root: f"loaded {root.name}")  # the real reader needs 170 MB
    monkeypatch.setenv("EXPLORER_CIFAR10_URL", serve("mirror.tar.gz", data))
    root = tmp_path / "tv"
    seen = []
    assert download_cifar10(root, progress=lambda f, m: seen.append((f, m))) == "loaded tv"
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]  # no .part, no staging left
    assert (root / "cifar-10-batches-py" / "readme.html").read_bytes() == b"hello"
    assert seen[-1][0] == 1.0 and any("Unpacking" in m for _, m in seen)
    assert settings.cifar10_url().startswith("http://127.0.0.1:")
