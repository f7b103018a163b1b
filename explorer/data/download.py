"""CIFAR-10 one click away: torchvision's archive, its md5 checked, progress reported.

The archive's address and md5 are torchvision's (``CIFAR10.url``, ``CIFAR10.tgz_md5``) unless
`settings.cifar10_url()` names a mirror; the md5 is always checked with torchvision's
``check_integrity``. Nothing half-written is left behind: the archive is streamed to a ``.part``
file and unpacked into a hidden staging folder, and only a verified, complete
``cifar-10-batches-py`` is moved into place. A ``.part`` left by a broken connection is resumed
(HTTP Range) or, where the server or a ``file://`` mirror sends the whole file, written again. Offline, the call fails at once with one sentence.
"""
from __future__ import annotations

import http.client
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .. import settings
from ..atomic import FileRefused, check_output, open_output
from .dataset import DataError, Dataset, shown
from .cifar10 import CIFAR10_FOLDER, cifar10_present, load_cifar10

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)
TIMEOUT_S = 30  # seconds without a byte before the download is given up
CHUNK = 1 << 16  # bytes read at a time
OFFLINE = ("CIFAR-10 could not be downloaded (no internet connection?); {why}; on a machine without internet, "
           "give the path of a copy instead (a folder or .zip with train/<class>/*.jpg and test/<class>/*.jpg, "
           "or the parent of a torchvision cifar-10-batches-py folder).")


def _stream(url: str, dest: Path, progress: Progress | None, share: float) -> bool:
    """Copy ``url`` to ``dest`` chunk by chunk, resuming a partial ``dest`` where the server allows it
    (HTTP Range; else it starts again); report up to ``share`` of the whole task. True if it resumed."""
    done = dest.stat().st_size if dest.is_file() and not dest.is_symlink() else 0  # left by a broken earlier try
    headers = {"User-Agent": "pytorch/vision"}  # as torchvision's downloader
    if done:
        headers["Range"] = f"bytes={done}-"
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as response:
        resumed = bool(done) and getattr(response, "status", None) == 206  # file:// and plain servers send it all
        done = done if resumed else 0
        length = str(response.headers.get("Content-Length") or "")  # file:// responses have no .length
        total = done + int(length) if length.isdigit() else 0
        with open_output(dest, append=resumed) as fh:  # written, never read here
            while chunk := response.read(CHUNK):
                fh.write(chunk)
                done += len(chunk)
                if progress is not None:
                    frac = share * done / total if total else 0.0
                    size = f"{done / 1e6:.1f} / {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
                    progress(min(frac, share), f"Downloading CIFAR-10: {size}")
    return resumed


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # a folder planted there: left as it is
        pass


def _unpack(archive: Path, staging: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(staging, filter="data")  # no links out, no absolute names, no devices


def download_cifar10(root: str | Path | None = None, progress: Progress | None = None,
                     url: str | None = None) -> Dataset:
    """Fetch torchvision's CIFAR-10 into ``root`` (default `settings.torchvision_root()`) and load it.

    ``progress(fraction, message)`` is called as bytes arrive and at each step. When the files
    are already there (and their md5 checks out on loading) nothing is downloaded. Offline, or
    when the download fails or is damaged, raises one `DataError` sentence and leaves ``root``
    as it was.
    """
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    root = Path(root).expanduser() if root is not None else settings.torchvision_root()
    report = progress or (lambda f, m: None)
    if cifar10_present(root):
        try:
            ds = load_cifar10(root)
            report(1.0, "CIFAR-10 is already here.")
            return ds
        except DataError:
            pass  # damaged files: fetch them again
    url = url or settings.cifar10_url() or CIFAR10.url
    made_root = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"CIFAR-10 cannot be stored in {shown(root)} ({e.strerror or type(e).__name__}); "
                        "choose a folder you can write to.") from None
    part = root / f".{CIFAR10.filename}.part"  # kept when the connection breaks: the next try resumes it
    try:
        check_output(part)  # a folder, FIFO or device planted as the .part file is refused, never written into
    except FileRefused as e:
        raise DataError(str(e)) from None
    staging = Path(tempfile.mkdtemp(prefix=".cifar10-", dir=root))
    done = False
    try:
        report(0.0, f"Connecting to {shown(url)}")
        for attempt in range(2):  # a resumed copy that fails its md5 is fetched once more from the start
            try:
                resumed = _stream(url, part, progress, 0.9)
            except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError, ValueError) as e:
                why = getattr(e, "reason", None) or e
                why = " ".join(f"{type(why).__name__}: {why}".split())
                raise DataError(OFFLINE.format(why=settings.shorten(f"{shown(url)} gave {why}", 200))) from None
            if check_integrity(str(part), CIFAR10.tgz_md5):
                break
            _remove(part)
            if not resumed or attempt:
                raise DataError(f"The CIFAR-10 archive from {shown(url)} is damaged (its md5 is not "
                                f"{CIFAR10.tgz_md5}); try the download again.")
        report(0.92, "Unpacking CIFAR-10")
        try:
            _unpack(part, staging)
        except (tarfile.TarError, OSError) as e:
            raise DataError(f"The CIFAR-10 archive could not be unpacked into {shown(root)} ({type(e).__name__}); "
                            "check the free disk space and try again.") from None
        target = root / CIFAR10_FOLDER
        if target.exists():
            shutil.rmtree(target)  # a damaged earlier copy (a good one returned above)
        os.replace(staging / CIFAR10_FOLDER, target)
        done = True
    finally:
        if done:
            _remove(part)
        shutil.rmtree(staging, ignore_errors=True)
        if made_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
    ds = load_cifar10(root)
    report(1.0, f"CIFAR-10 is in {shown(root)}.")
    return ds
