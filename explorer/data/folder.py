"""Image folders and zips: ``train/<class>/*.jpg|png`` and ``test/<class>/*``, decoded once, cached.

Reading is defensive, because the folder or zip comes from outside: member names that leave
the archive, declared sizes past any 32x32 image, anything PIL cannot decode (decompression
bombs included: an image's size is checked from its header before any pixel is decoded), and,
when ``allowed_roots`` is given (deploy mode), any file that resolves outside those roots, all
end in one `DataError` sentence with the path shortened.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import threading
import warnings
import stat
import zipfile
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import settings
from ..atomic import FileRefused, open_capped, read_capped
from .cache import read_cached, write_cached
from .progress import report
from .dataset import CIFAR10_CLASSES, IMAGE_SIZE, JPEG_COPY, DataError, Dataset, default_cache_dir, make_dataset, shown

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
IMAGE_FORMATS = ("PNG", "JPEG")  # the only decoders PIL may use on outside bytes
MAX_ZIP_MEMBER_BYTES = 10 * 1024 * 1024  # one image; anything larger is not a 32x32 image
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
_OPENED: "OrderedDict[tuple, Dataset]" = OrderedDict()  # zips this process has loaded, by the zip's stat
_OPENED_LOCK = threading.Lock()
_OPENED_SIZE = 2  # a CIFAR-10 zip decodes to ~180 MB


MAX_WALK_DEPTH = 4  # [one wrapping folder/]train|test/<class>/<image>
MAX_WALK_ENTRIES = 1_000_000  # CIFAR-10 is 60,000 files; a folder past this is not an image data set


def _walk(root: Path) -> list[str]:
    """The files of a data folder as relative '/' paths, to the layout's depth only: links to folders are not
    followed, hidden entries are skipped, and a tree of more than MAX_WALK_ENTRIES entries is refused, so a path
    such as / or ~ ends in one sentence instead of a walk of the whole disk."""
    out, todo, seen = [], [(root, "", 1)], 0
    while todo:
        folder, rel, depth = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        seen += len(entries)
        if seen > MAX_WALK_ENTRIES:
            raise DataError(f"{shown(root)} holds more than {MAX_WALK_ENTRIES:,} entries: not an image data set "
                            "(expected train/<class>/<image> and test/<class>/<image>).")
        for e in entries:
            if e.name.startswith("."):
                continue
            name = rel + e.name
            try:
                if e.is_file():
                    out.append(name)
                elif depth < MAX_WALK_DEPTH and e.is_dir(follow_symlinks=False):
                    todo.append((e.path, name + "/", depth + 1))
            except OSError:  # an entry this user cannot stat is no image of the set
                continue
    return out


def _inside(path: Path, roots: list[Path]) -> bool:
    p = path.resolve()
    return any(p == r or r in p.parents for r in (Path(r).resolve() for r in roots))


class _Source:
    """A folder or a zip, seen as a list of relative paths and a way to read them."""

    def __init__(self, path: Path, allowed_roots: list[Path] | None = None):
        self.path = path
        self.roots = allowed_roots
        self.zip: zipfile.ZipFile | None = None
        if self.roots is not None and (path.exists() or path.is_symlink()) and not _inside(path, self.roots):
            raise DataError(f"{shown(path)} is outside the folders data may come from here ({self._roots()}).")
        if path.is_file():
            try:  # through the door: a regular file (the path is the user's own choice: a link may lead anywhere)
                fh = open_capped(path, MAX_ZIP_TOTAL_BYTES, within="/", what="data archive")
            except FileRefused as e:
                raise DataError(str(e)) from None
            if not zipfile.is_zipfile(fh):
                fh.close()
                raise DataError(f"{shown(path)} is a file but not a .zip; expected a folder or a .zip with train/ and test/.")
            self.zip = zipfile.ZipFile(fh)
            self.infos = {}
            total = 0
            for info in self.zip.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                parts = Path(name).parts
                if name.startswith("/") or ".." in parts or ":" in name.split("/")[0]:
                    raise DataError(f"{shown(path)}: the member name {name!r} points outside the archive; refusing to read it.")
                if info.file_size > MAX_ZIP_MEMBER_BYTES:
                    raise DataError(
                        f"{shown(path)}: member {name!r} declares {info.file_size:,} bytes; a 32x32 image is at most a few KB."
                    )
                total += info.file_size
                self.infos[name] = info
            if total > MAX_ZIP_TOTAL_BYTES:
                raise DataError(f"{shown(path)}: the archive declares {total:,} bytes in all, "
                                f"more than the {MAX_ZIP_TOTAL_BYTES:,} allowed.")
            self.files = sorted(self.infos)
        elif path.is_dir():
            self.files = sorted(_walk(path))
        else:
            raise DataError(f"No such data folder or zip: {shown(path)}.")

    def _roots(self) -> str:
        return ", ".join(shown(r) for r in self.roots or [])

    def check_allowed(self, rel: str) -> Path:
        """The real path of a folder's file; a DataError when it resolves outside the allowed roots."""
        p = self.path / rel
        if self.roots is not None and not _inside(p, self.roots):
            raise DataError(f"{shown(self.path)}: {rel!r} resolves to {shown(p.resolve())}, outside the folders "
                            f"data may come from here ({self._roots()}).")
        return p

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
        """One member's bytes, at most MAX_ZIP_MEMBER_BYTES; a damaged or oversized one is a DataError."""
        if self.zip is not None:
            try:
                return self.zip.read(self.infos[rel])
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                raise DataError(f"{shown(self.path)}: member {rel!r} is damaged ({type(e).__name__}); "
                                "expected an intact archive.") from None
        p = self.check_allowed(rel)  # where links may lead is the allowed roots' matter; the door checks the rest
        try:
            return read_capped(p, MAX_ZIP_MEMBER_BYTES, within="/", what="image file", label=f"{shown(self.path)}: {rel!r}")
        except FileRefused as e:
            if "more than" not in str(e):
                raise DataError(str(e)) from None
            raise DataError(f"{shown(self.path)}: {rel!r} is not an image file of at most {MAX_ZIP_MEMBER_BYTES:,} bytes "
                            "(a 32x32 image is a few KB).") from None


def _layout(src: _Source) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Check train/<class>/<image> and test/<class>/<image>; return classes and file lists."""
    where = shown(src.path)
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
            raise DataError(f"{where}: unexpected entry {f!r}; expected {parts[0]}/<class>/<image>.jpg|png, one folder per class.")
        if not parts[2].lower().endswith(IMAGE_EXTS):
            raise DataError(f"{where}: {f!r} is not an image; expected only .jpg, .jpeg or .png files in class folders.")
        splits[parts[0]].setdefault(parts[1], []).append(f)
    for split in ("train", "test"):
        if not splits[split]:
            raise DataError(f"{where}: no images under {split}/; expected train/<class>/*.jpg|png and test/<class>/*.jpg|png.")
    classes = sorted(splits["train"])
    only_train = sorted(set(classes) - set(splits["test"]))
    only_test = sorted(set(splits["test"]) - set(classes))
    if only_train or only_test:
        raise DataError(
            f"{where}: train and test must have the same classes; "
            + (f"only in train: {', '.join(only_train)}. " if only_train else "")
            + (f"only in test: {', '.join(only_test)}." if only_test else "")
        )
    if len(classes) < 2:
        raise DataError(f"{where}: found {len(classes)} class; a classifier needs at least 2.")
    files = {s: [(f, classes.index(c)) for c in classes for f in sorted(splits[s][c])] for s in splits}
    return classes, files


def decode_image(data: bytes, name: str) -> np.ndarray:
    """The bytes of one PNG or JPEG file -> (3, 32, 32) uint8; every failure is one DataError.

    ``Image.open`` reads the header only, so the size is checked before any pixel is decoded:
    a 20000x20000 PNG of a few KB is refused without allocating it. PIL's own decompression-bomb
    error (and its warning, when turned into an error) become the same kind of sentence.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:  # lazy: header only
            w, h = im.size
            if (w, h) != (IMAGE_SIZE, IMAGE_SIZE):
                raise DataError(f"{name} is {w}x{h}; expected {IMAGE_SIZE}x{IMAGE_SIZE} images.")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)  # (3, 32, 32)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name} declares an image of more than {Image.MAX_IMAGE_PIXELS or 0:,} pixels "
                        f"(a decompression bomb?); expected {IMAGE_SIZE}x{IMAGE_SIZE} images.") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure on outside bytes is a data error
        raise DataError(f"{name} could not be decoded as a PNG or JPEG image ({type(e).__name__}).") from None


def _decode_all(src: _Source, items: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    out = np.empty((len(items), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)  # (N, 3, 32, 32)
    where = shown(src.path)

    def one(rel: str) -> np.ndarray:
        return decode_image(src.read(rel), f"{where}: {rel!r}")

    with warnings.catch_warnings():  # PIL warns before it errs on huge images: make it an error here
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        what = f"decoding {src.path.name}"
        if src.zip is not None:
            # ZipFile objects are not safe to share between threads; decode sequentially.
            for i, (rel, _) in enumerate(items):
                out[i] = one(rel)
                if i % 1000 == 999:
                    report(what, i + 1, len(items))
        else:
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                for i, arr in enumerate(pool.map(lambda it: one(it[0]), items, chunksize=256)):
                    out[i] = arr
                    if i % 1000 == 999:
                        report(what, i + 1, len(items))
        report(what, len(items), len(items))
    return out, np.array([c for _, c in items], dtype=np.int64)


def _describe(path: Path, classes: list[str], n_train: int, n_test: int) -> str:
    if classes == CIFAR10_CLASSES and n_train == 50000 and n_test == 10000:
        return JPEG_COPY
    return f"image folder {path.name} ({len(classes)} classes)"


def load_folder(path: str | Path, cache_dir: str | Path | None | bool = None,
                allowed_roots: list[Path] | None = None) -> Dataset:
    """Read a folder or a .zip with train/<class>/* and test/<class>/*, through the cache.

    ``cache_dir=None`` uses `default_cache_dir()`; ``False`` disables the cache.
    ``allowed_roots``: every file read (symlinks resolved), and a zip itself, must lie under one
    of these folders; ``None`` means `settings.data_roots()` in deploy mode and no limit otherwise.

    A zip is read once per process: the last two loaded are kept in memory (a CIFAR-10 zip is
    ~180 MB decoded) and returned again while the file is the same (device, inode, size, mtime)
    and the roots and cache are the same. Their tensors are shared: treat a Dataset as read-only.
    """
    path = Path(path).expanduser()
    if allowed_roots is None and settings.deploy_mode():
        allowed_roots = settings.data_roots()
    cache_dir = default_cache_dir() if cache_dir is None else (None if cache_dir is False else cache_dir)
    try:  # a zip already loaded by this process, unchanged since (same file, size and mtime): no second read
        st = path.stat()
        stamp = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, repr(allowed_roots),
                 str(cache_dir)) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        stamp = None
    with _OPENED_LOCK:
        if stamp in _OPENED:
            _OPENED.move_to_end(stamp)
            hit = _OPENED[stamp]
            return hit if hit.name == str(path) else dataclasses.replace(hit, name=str(path))  # same tensors
    ds = _load_folder(path, cache_dir, allowed_roots)
    if stamp is not None:
        with _OPENED_LOCK:
            _OPENED[stamp] = ds
            while len(_OPENED) > _OPENED_SIZE:
                _OPENED.popitem(last=False)
    return ds


def forget_loaded() -> None:
    """Drop the zips this process keeps (the next load reads the disk cache again, as a new process would)."""
    with _OPENED_LOCK:
        _OPENED.clear()


def _load_folder(path: Path, cache_dir, allowed_roots: list[Path] | None) -> Dataset:
    src = _Source(path, allowed_roots)
    classes, files = _layout(src)
    if src.zip is None and allowed_roots is not None:
        for rel, _ in files["train"] + files["test"]:
            src.check_allowed(rel)  # before the cache: a cached copy of an outside file is refused too
    key = src.fingerprint()
    cache = Path(cache_dir) / "datasets" / f"{key}.npz" if cache_dir is not None else None
    if cache is not None:
        hit = read_cached(cache, key)
        if hit is not None:
            return make_dataset(str(path), hit.description, hit.train_x, hit.train_y, hit.test_x, hit.test_y,
                                hit.classes, fp=hit.fingerprint)
    tx, ty = _decode_all(src, files["train"])
    vx, vy = _decode_all(src, files["test"])
    ds = make_dataset(str(path), _describe(path, classes, len(tx), len(vx)), tx, ty, vx, vy, classes)
    if cache is not None:
        write_cached(cache, key, ds)
    return ds
