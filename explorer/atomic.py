"""Files in and out, guarded: the one door every reader goes through, and atomic writes.

Reading (:func:`read_capped`, :func:`read_json_capped`, :func:`open_capped`, :func:`hash_capped`,
:func:`tail_capped`):
only a regular file is read (no FIFO, device, socket or folder), a link only while it stays inside
its folder (``within``, by default the file's own), opened without blocking (``O_NONBLOCK``, then
``fstat`` says what was really opened) and never past a size cap chosen for that kind of file.
Anything else is a :class:`FileRefused` with one sentence; a missing file is a :class:`FileMissing`.

Writing: a temporary file in the same folder, fsync, rename, fsync the folder, so a reader sees
either the old file or the complete new one, whatever moment the writer is killed at. An output
path that exists and is not a regular file (a folder, a device, a FIFO) is refused, never replaced.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path

from .settings import shorten

MB = 1024 * 1024
CHUNK = MB  # bytes read (and hashed) at a time
JSON_DEPTH = 32  # deeper JSON is no file of this project's


class FileRefused(ValueError):
    """A file that is not read (or written): not a regular file, a link out of its folder, too large."""


class FileMissing(FileRefused):
    """A file that is not there."""


def _shown(path: Path, label: str | None = None) -> str:
    return label or shorten(str(path), 120)


def _open(path: str | Path, cap: int | None, within: str | Path | None, what: str,
          label: str | None) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file ``path`` (checked after opening) and its fstat."""
    path = Path(path)
    name = _shown(path, label)
    try:
        st = os.lstat(path)
        target = path
        if stat.S_ISLNK(st.st_mode):
            target = path.resolve()
            root = Path(within if within is not None else path.parent).resolve()
            if target != root and root not in target.parents:
                raise FileRefused(f"{name} is a link out of its folder; refused.")
            st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"{name} is not a regular file; refused (a {what} must be a plain file).")
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)  # never blocks, even if swapped
    except FileNotFoundError:
        raise FileMissing(f"{name} is missing.") from None
    except RecursionError:
        raise FileRefused(f"{name} is a loop of links; refused.") from None
    except OSError as e:
        raise FileRefused(f"{name} cannot be read ({e.strerror or type(e).__name__}).") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileRefused(f"{name} is not a regular file; refused (a {what} must be a plain file).")
    if cap is not None and st.st_size > cap:
        os.close(fd)
        raise FileRefused(f"{name} is {st.st_size:,} bytes, more than the {cap:,} a {what} may have.")
    return fd, st


def _grew(name: str, cap: int) -> FileRefused:
    return FileRefused(f"{name} grew past {cap:,} bytes while being read; refused.")


def read_capped(path: str | Path, cap: int, *, within: str | Path | None = None, what: str = "file",
                label: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``cap`` of them (see the module doc)."""
    name = _shown(Path(path), label)
    fd, _ = _open(path, cap, within, what, label)
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(cap + 1)
    except OSError as e:
        raise FileRefused(f"{name} cannot be read ({e.strerror or type(e).__name__}).") from None
    if len(data) > cap:
        raise _grew(name, cap)
    return data


def open_capped(path: str | Path, cap: int, *, within: str | Path | None = None, what: str = "file",
                label: str | None = None):
    """The regular file ``path`` of at most ``cap`` bytes, open for binary reading (for readers that seek: zip, npz)."""
    fd, _ = _open(path, cap, within, what, label)
    return os.fdopen(fd, "rb")


def hash_capped(path: str | Path, cap: int, *, within: str | Path | None = None, what: str = "file",
                label: str | None = None) -> str:
    """sha256 (hex) of the regular file ``path`` of at most ``cap`` bytes, read in bounded chunks."""
    name = _shown(Path(path), label)
    fd, _ = _open(path, cap, within, what, label)
    h, n = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(CHUNK):
                n += len(chunk)
                if n > cap:
                    raise _grew(name, cap)
                h.update(chunk)
    except OSError as e:
        raise FileRefused(f"{name} cannot be read ({e.strerror or type(e).__name__}).") from None
    return h.hexdigest()


def tail_capped(path: str | Path, last: int, *, within: str | Path | None = None, what: str = "log",
                label: str | None = None) -> bytes:
    """The last ``last`` bytes of the regular file ``path``, however long it is."""
    name = _shown(Path(path), label)
    fd, st = _open(path, None, within, what, label)
    try:
        with os.fdopen(fd, "rb") as f:
            f.seek(max(0, st.st_size - last))
            return f.read(last)
    except OSError as e:
        raise FileRefused(f"{name} cannot be read ({e.strerror or type(e).__name__}).") from None


def json_depth(obj, limit: int) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion to exhaust); stops past ``limit``."""
    stack, deepest = [(obj, 1)], 0
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def read_json_capped(path: str | Path, cap: int, *, within: str | Path | None = None, what: str = "JSON file",
                     depth: int = JSON_DEPTH, label: str | None = None) -> dict:
    """The JSON object in the regular file ``path`` (at most ``cap`` bytes, ``depth`` levels)."""
    name = _shown(Path(path), label)
    data = read_capped(path, cap, within=within, what=what, label=label)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise FileRefused(f"{name} is not valid JSON ({e.__class__.__name__}).") from None
    if not isinstance(obj, dict):
        raise FileRefused(f"{name} must hold a JSON object.")
    if json_depth(obj, depth) > depth:
        raise FileRefused(f"{name} is nested more than {depth} levels deep; not a {what}.")
    return obj


def check_output(path: str | Path) -> None:
    """Refuse an output path that exists and is not a regular file (nor a link to one)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return  # nothing there yet (or a dangling link, replaced by the file)
    except OSError as e:
        raise FileRefused(f"{_shown(Path(path))} cannot be written ({e.strerror or type(e).__name__}).") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"{_shown(Path(path))} exists and is not a regular file; refused to replace it "
                          "(give the path of a file).")


def open_output(path: str | Path, append: bool = False):
    """A binary file opened for writing (appended to, or truncated), never through a link and never anything but
    a regular file: a link, FIFO, folder or device planted at ``path`` is a FileRefused sentence, not followed,
    blocked on or written into."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | (os.O_APPEND if append else 0), 0o644)
    except OSError as e:
        raise FileRefused(f"{_shown(Path(path))} cannot be written ({e.strerror or type(e).__name__}; a link, folder "
                          "or device there is refused).") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileRefused(f"{_shown(Path(path))} exists and is not a regular file; refused to write into it.")
    if not append:
        os.ftruncate(fd, 0)  # truncated only once it is known to be a regular file
    return os.fdopen(fd, "ab" if append else "wb")


def clean_stale_temps(folder: str | Path, older_than_s: float = 3600) -> int:
    """Remove the temporary files of writes killed midway (``.*.tmp`` older than ``older_than_s``); how many."""
    removed, now = 0, time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        try:
            if (e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False)
                    and now - e.stat(follow_symlinks=False).st_mtime > older_than_s):
                os.unlink(e.path)
                removed += 1
        except OSError:
            continue
    return removed


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; run files are meant to be shared
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_output(path)  # made a folder or device meanwhile: still refused
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems do not fsync folders
        pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
