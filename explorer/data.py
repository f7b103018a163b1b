"""Data sets held in memory as uint8 tensors, batch augmentation, and the probe set.

Every data set becomes a `Dataset`: train/test images as uint8 tensors (N, 3, 32, 32),
int64 labels, class names, and a content fingerprint. Sources:

* ``cifar10``: torchvision's CIFAR-10 reader under ``root`` (download only on request);
* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), upsampled to 32x32x3 and
  split stratified 70/30 with a fixed seed: a real, tiny, offline data set;
* a path to a folder or a .zip holding ``train/<class>/*.jpg|png`` and ``test/<class>/*``.

Decoded folders and zips are cached as .npz under a fingerprint of their listing, so the
60,000-image CIFAR-10 JPEG zip decodes once and then loads in well under a second.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .atomic import atomic_write_bytes

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
IMAGE_SIZE = 32
PROBE_SIZE = 500
PROBE_SEED = 0
MAX_ZIP_MEMBER_BYTES = 10 * 1024 * 1024  # one image; anything larger is not a 32x32 image
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3


def default_cache_dir() -> Path:
    """Where decoded data sets and analysis tables are cached (env EXPLORER_CACHE)."""
    from .settings import cache_dir
    return cache_dir()


class DataError(ValueError):
    """A data set that cannot be read; the message says what was expected."""


@dataclass
class Dataset:
    name: str  # "cifar10", "digits", or the folder / zip path
    description: str  # e.g. "CIFAR-10 (JPEG copy)"
    train_x: torch.Tensor  # (N, 3, 32, 32) uint8
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor  # (M, 3, 32, 32) uint8
    test_y: torch.Tensor  # (M,) int64
    classes: list[str]
    fingerprint: str = ""  # sha256 of the decoded content, first 16 hex digits
    notes: list[str] = field(default_factory=list)
    _stats: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training split, in [0, 1] units, shape (3,).

        Accumulated in float64 over chunks, so a 50,000-image split needs no float copy.
        """
        if self._stats is None:
            s = torch.zeros(3, dtype=torch.float64)
            s2 = torch.zeros(3, dtype=torch.float64)
            for i in range(0, len(self.train_x), 4096):
                x = self.train_x[i:i + 4096].to(torch.float64).div_(255)
                s += x.sum(dim=(0, 2, 3))
                s2 += (x * x).sum(dim=(0, 2, 3))
            n = self.train_x.shape[0] * self.train_x.shape[2] * self.train_x.shape[3]
            mean = s / n
            std = ((s2 - n * mean * mean) / (n - 1)).clamp_min(1e-12).sqrt()
            self._stats = (mean.float(), std.float())
        return self._stats


def content_fingerprint(*arrays: np.ndarray | torch.Tensor) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = a.numpy() if isinstance(a, torch.Tensor) else a
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _make(name, description, tx, ty, vx, vy, classes, notes=(), fp: str = "") -> Dataset:
    tx, vx = torch.as_tensor(tx, dtype=torch.uint8), torch.as_tensor(vx, dtype=torch.uint8)
    ty, vy = torch.as_tensor(ty, dtype=torch.int64), torch.as_tensor(vy, dtype=torch.int64)
    fp = fp or content_fingerprint(tx, ty, vx, vy, np.array(classes))
    return Dataset(name, description, tx, ty, vx, vy, list(classes), fp, list(notes))


# --------------------------------------------------------------------------- digits
def load_digits(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits, upsampled 4x (nearest) to 32x32 and repeated to RGB."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    d = _load()
    img = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    img = img.repeat(4, axis=1).repeat(4, axis=2)[:, None].repeat(3, axis=1)  # (1797, 3, 32, 32)
    idx = np.arange(len(img))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=d.target, random_state=seed)
    tr, te = np.sort(tr), np.sort(te)
    classes = [str(c) for c in range(10)]
    return _make("digits", "scikit-learn digits (8x8 upsampled to 32x32)", img[tr], d.target[tr], img[te], d.target[te], classes)


# --------------------------------------------------------------------------- cifar10
CIFAR10_HELP = (
    "CIFAR-10 was not found under {root!r}. Either download it (needs internet): "
    "`python -m explorer download-cifar10 --root {root}` or tick 'download' in the app; "
    "or point to a copy: a torchvision cifar-10-batches-py folder's parent, or a folder/.zip with "
    "train/<class>/*.jpg and test/<class>/*.jpg (e.g. ../shared/data/cifar10-jpeg.zip)."
)


def load_cifar10(root: str | Path = "data", download: bool = False) -> Dataset:
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(str(root), train=True, download=download)
        test = CIFAR10(str(root), train=False, download=download)
    except (RuntimeError, OSError) as e:  # not found, or no network while downloading
        raise DataError(CIFAR10_HELP.format(root=str(root)) + f" ({e})") from None
    tx = np.ascontiguousarray(train.data.transpose(0, 3, 1, 2))  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    vx = np.ascontiguousarray(test.data.transpose(0, 3, 1, 2))
    return _make("cifar10", "CIFAR-10", tx, train.targets, vx, test.targets, list(train.classes))


# --------------------------------------------------------------------------- folders and zips
class _Source:
    """A folder or a zip, seen as a list of relative paths and a way to read them."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise DataError(f"{path} is a file but not a .zip; expected a folder or a .zip with train/ and test/.")
            self.zip = zipfile.ZipFile(path)
            self.infos = {}
            total = 0
            for info in self.zip.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                parts = Path(name).parts
                if name.startswith("/") or ".." in parts or ":" in name.split("/")[0]:
                    raise DataError(f"{path}: the member name {name!r} points outside the archive; refusing to read it.")
                if info.file_size > MAX_ZIP_MEMBER_BYTES:
                    raise DataError(
                        f"{path}: member {name!r} declares {info.file_size:,} bytes; a 32x32 image is at most a few KB."
                    )
                total += info.file_size
                self.infos[name] = info
            if total > MAX_ZIP_TOTAL_BYTES:
                raise DataError(f"{path}: the archive declares {total:,} bytes in all, more than the {MAX_ZIP_TOTAL_BYTES:,} allowed.")
            self.files = sorted(self.infos)
        elif path.is_dir():
            self.files = sorted(str(p.relative_to(path)).replace(os.sep, "/") for p in path.rglob("*") if p.is_file())
        else:
            raise DataError(f"No such data folder or zip: {path}.")

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for f in self.files:
            if self.zip is not None:
                i = self.infos[f]
                h.update(f"{f}|{i.CRC}|{i.file_size}\n".encode())
            else:
                st = (self.path / f).stat()
                h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:24]

    def read(self, rel: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(self.infos[rel])
        return (self.path / rel).read_bytes()


def _layout(src: _Source) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Check train/<class>/<image> and test/<class>/<image>; return classes and file lists."""
    prefix = ""
    tops = {f.split("/")[0] for f in src.files}
    if len(tops) == 1 and not tops & {"train", "test"}:  # a zip that wraps everything in one folder
        prefix = next(iter(tops)) + "/"
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for f in src.files:
        if not f.startswith(prefix):
            continue
        parts = f[len(prefix):].split("/")
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue  # hidden files and macOS resource forks are not data
        if parts[0] not in splits:
            continue
        if len(parts) != 3:
            raise DataError(
                f"{src.path}: unexpected entry {f!r}; expected {parts[0]}/<class>/<image>.jpg|png, one folder per class."
            )
        if not parts[2].lower().endswith(IMAGE_EXTS):
            raise DataError(f"{src.path}: {f!r} is not an image; expected only .jpg, .jpeg or .png files in class folders.")
        splits[parts[0]].setdefault(parts[1], []).append(f)
    for split in ("train", "test"):
        if not splits[split]:
            raise DataError(
                f"{src.path}: no images under {split}/; expected train/<class>/*.jpg|png and test/<class>/*.jpg|png."
            )
    classes = sorted(splits["train"])
    only_train = sorted(set(classes) - set(splits["test"]))
    only_test = sorted(set(splits["test"]) - set(classes))
    if only_train or only_test:
        raise DataError(
            f"{src.path}: train and test must have the same classes; "
            + (f"only in train: {', '.join(only_train)}. " if only_train else "")
            + (f"only in test: {', '.join(only_test)}." if only_test else "")
        )
    if len(classes) < 2:
        raise DataError(f"{src.path}: found {len(classes)} class; a classifier needs at least 2.")
    files = {s: [(f, classes.index(c)) for c in classes for f in sorted(splits[s][c])] for s in splits}
    return classes, files


def _decode(src: _Source, rel: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(src.read(rel))) as im:
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise DataError(f"{src.path}: {rel!r} is {im.size[0]}x{im.size[1]}; expected {IMAGE_SIZE}x{IMAGE_SIZE} images.")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)  # (3, 32, 32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{src.path}: {rel!r} could not be decoded as an image ({type(e).__name__}).") from None


def _decode_all(src: _Source, items: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty((len(items), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    if src.zip is not None:
        # ZipFile objects are not safe to share between threads; decode sequentially.
        for i, (rel, _) in enumerate(items):
            out[i] = _decode(src, rel)
    else:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for i, arr in enumerate(pool.map(lambda it: _decode(src, it[0]), items, chunksize=256)):
                out[i] = arr
    return out, np.array([c for _, c in items], dtype=np.int64)


def load_folder(path: str | Path, cache_dir: str | Path | None | bool = None) -> Dataset:
    """Read a folder or a .zip with train/<class>/* and test/<class>/*, through the cache.

    ``cache_dir=None`` uses `default_cache_dir()`; ``False`` disables the cache.
    """
    path = Path(path).expanduser()
    cache_dir = default_cache_dir() if cache_dir is None else (None if cache_dir is False else cache_dir)
    src = _Source(path)
    key = src.fingerprint()
    cache = Path(cache_dir) / "datasets" / f"{key}.npz" if cache_dir is not None else None
    if cache is not None and cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return _make(str(path), str(z["description"]), z["train_x"], z["train_y"], z["test_x"], z["test_y"],
                             [str(c) for c in z["classes"]], fp=str(z["fingerprint"]))
        except Exception:  # a damaged cache file is rebuilt, never trusted
            cache.unlink(missing_ok=True)
    classes, files = _layout(src)
    tx, ty = _decode_all(src, files["train"])
    vx, vy = _decode_all(src, files["test"])
    ds = _make(str(path), _describe(path, classes, len(tx), len(vx)), tx, ty, vx, vy, classes)
    if cache is not None:
        buf = io.BytesIO()
        np.savez(buf, train_x=tx, train_y=ty, test_x=vx, test_y=vy, classes=np.array(classes),
                 description=np.array(ds.description), fingerprint=np.array(ds.fingerprint))
        atomic_write_bytes(cache, buf.getvalue())
    return ds


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _describe(path: Path, classes: list[str], n_train: int, n_test: int) -> str:
    if classes == CIFAR10_CLASSES and n_train == 50000 and n_test == 10000:
        return "CIFAR-10 (JPEG copy)"
    return f"image folder {path.name} ({len(classes)} classes)"


# --------------------------------------------------------------------------- entry point
def load_dataset(source: str | Path, root: str | Path = "data", download: bool = False,
                 cache_dir: str | Path | None | bool = None) -> Dataset:
    """``cifar10``, ``digits``, or a path to a folder / .zip (see module docstring)."""
    s = str(source).strip()
    if not s:
        raise DataError("No data set given; expected cifar10, digits, or a path to a folder or .zip.")
    if s == "digits":
        return load_digits()
    if s == "cifar10":
        return load_cifar10(root, download)
    return load_folder(s, cache_dir)


# --------------------------------------------------------------------------- tensors on a device
def normalize(x_uint8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float, normalised per channel."""
    x = x_uint8.to(dtype).div_(255)
    return x.sub_(mean.to(x.device, dtype).view(1, -1, 1, 1)).div_(std.to(x.device, dtype).view(1, -1, 1, 1))


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad``-pixel zero padding and random horizontal flip, whole batch at once.

    Works on any device and dtype; ``x`` is (B, C, H, W). The generator must live on the
    same device as ``x`` for a reproducible stream.
    """
    b, c, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H+2p, W+2p), zeros outside
    dy = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=generator)
    flip = torch.rand(b, device=dev, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
    cols = dx[:, None] + torch.arange(w, device=dev)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]  # (B, 1, 1, W)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return padded[bi, ci, rows, cols]


# --------------------------------------------------------------------------- the probe set
@dataclass
class ProbeSet:
    indices: torch.Tensor  # (n,) indices into the test split, sorted by (class, index)
    images: torch.Tensor  # (n, 3, 32, 32) uint8
    labels: torch.Tensor  # (n,) int64
    classes: list[str]
    hash: str  # sha256 of indices, labels and pixels, 16 hex digits
    note: str = ""  # set when a class has fewer test images than asked for


def probe_set(ds: Dataset, size: int = PROBE_SIZE, seed: int = PROBE_SEED) -> ProbeSet:
    """``size`` test images, stratified (size // K a class), chosen with a fixed seed.

    A class with fewer test images gives all it has, and the note says so.
    """
    k = ds.num_classes
    per_class = max(1, size // k)
    g = torch.Generator().manual_seed(seed)
    chosen, short = [], []
    for c in range(k):
        idx = torch.nonzero(ds.test_y == c).flatten()
        take = min(per_class, len(idx))
        if take < per_class:
            short.append(f"{ds.classes[c]} ({take})")
        pick = idx[torch.randperm(len(idx), generator=g)[:take]]
        chosen.append(pick.sort().values)
    indices = torch.cat(chosen)
    images, labels = ds.test_x[indices], ds.test_y[indices]
    note = ""
    if short:
        note = f"Fewer than {per_class} test images for: {', '.join(short)}; the probe set has {len(indices)} images."
    return ProbeSet(indices, images, labels, ds.classes, content_fingerprint(indices, labels, images), note)
