"""The one door for reading a file (explorer.atomic): every reader goes through it, and it holds.

The walk below fails on any new call that opens or reads a file outside the door; the allowed
ones are listed with their reason. The rest are the reading attacks of an audit: FIFOs, links to
/dev/zero, records of the wrong type, forged pids, oversized entries. Each must end as one clear
sentence or a cache miss, in bounded time and memory.
"""
import ast
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.atomic import (FileMissing, FileRefused, atomic_write_bytes, atomic_write_json, clean_stale_temps,
                             hash_capped, read_capped, read_json_capped, tail_capped)

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "explorer"
READS = {"read_bytes", "read_text", "open", "fdopen", "load", "safe_open", "read_csv", "ZipFile", "urlopen",
         "check_integrity", "loadtxt", "fromfile", "memmap"}
# (module, call, first argument): the door itself, writes, and readers of what the door opened or read
ALLOWED = {
    ("explorer/atomic.py", "os.open", "target"): "the door: O_NONBLOCK, then fstat",
    ("explorer/atomic.py", "os.fdopen", "fd"): "the door's descriptor (reads), the temporary file (writes)",
    ("explorer/atomic.py", "os.open", "path.parent"): "fsync of a folder after a write",
    ("explorer/atomic.py", "os.open", "path"): "the write door (open_output): O_NOFOLLOW, O_NONBLOCK, then fstat",
    ("explorer/analysis/cache.py", "load", "read_capped(p, MAX_ENTRY, what='cache entry')"): "bytes from the door",
    ("explorer/data/cache.py", "np.load", "fh"): "a file the door opened (open_capped)",
    ("explorer/data/folder.py", "zipfile.ZipFile", "fh"): "a file the door opened (open_capped)",
    ("explorer/data/probe.py", "load", "data"): "bytes from the door",
    ("explorer/importer/formats.py", "load", "data"): "bytes from the door (safetensors)",
    ("explorer/data/download.py", "urllib.request.urlopen", "req"): "the network, bounded by a timeout",
    ("explorer/data/download.py", "tarfile.open", "archive"): "the archive this process just wrote and md5-checked",
    ("explorer/data/download.py", "check_integrity", "str(part)"): "the .part this process just wrote",
    ("explorer/runs/locks.py", "os.open", "lock"): "creates the run lock (O_EXCL), written",
    ("explorer/runs/locks.py", "os.fdopen", "fd"): "writes the run lock",
}


def test_every_reader_goes_through_the_door():
    found = set()
    for p in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            arg = ast.unparse(node.args[0]) if node.args else ""
            if name in READS and not arg.startswith(("io.BytesIO(", "BytesIO(")):
                found.add((str(p.relative_to(ROOT)), ast.unparse(f), arg))
    new = sorted(found - set(ALLOWED))
    assert not new, f"files opened or read outside the door (explorer.atomic): {new}"


# ---- the door itself ----------------------------------------------------------------------------

def test_the_door_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    (tmp_path / "dir").mkdir()
    (tmp_path / "big").write_bytes(b"x" * 2000)
    inner = tmp_path / "in"
    inner.mkdir()
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", inner / "out")
    t0 = time.perf_counter()
    for name, why in (("fifo", "regular"), ("zero", "link out"), ("dir", "regular"), ("big", "more than")):
        with pytest.raises(FileRefused, match=why):
            read_capped(tmp_path / name, 1000)
        with pytest.raises(FileRefused, match=why):
            hash_capped(tmp_path / name, 1000)
    with pytest.raises(FileRefused, match="link out"):
        read_capped(inner / "out", 1000)
    with pytest.raises(FileMissing):
        read_capped(tmp_path / "nothing", 10)
    with pytest.raises(FileRefused, match="regular"):
        tail_capped(tmp_path / "fifo", 10)
    assert time.perf_counter() - t0 < 5  # no hang on the FIFO
    assert tail_capped(tmp_path / "big", 3) == b"xxx"


def test_json_through_the_door(tmp_path):
    p = tmp_path / "a.json"
    for text, why in (("[1,2,3]", "object"), ("[" * 100_000 + "]" * 100_000, "JSON"),
                      ('{"a":' * 40 + "1" + "}" * 40, "nested")):
        p.write_text(text)
        with pytest.raises(FileRefused, match=why):
            read_json_capped(p, 1 << 20)


def test_atomic_writers_refuse_a_path_that_is_not_a_file(tmp_path):
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/null", tmp_path / "null")
    for name in ("dir", "fifo", "null"):
        with pytest.raises(FileRefused, match="exists and is not a regular file"):
            atomic_write_json(tmp_path / name, {"a": 1})
    assert os.path.islink(tmp_path / "null") and (tmp_path / "dir").is_dir()
    atomic_write_bytes(tmp_path / "ok", b"1")
    assert (tmp_path / "ok").read_bytes() == b"1"


def test_stale_temporary_files_are_cleaned(tmp_path):
    old, new = tmp_path / ".a.json.x1.tmp", tmp_path / ".b.json.x2.tmp"
    old.write_text("x")
    new.write_text("x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert clean_stale_temps(tmp_path, 3600) == 1
    assert not old.exists() and new.exists()


# ---- the audit's attacks (bench/audit.py), one test each ---------------------------------------

def _audit():
    import importlib.util
    spec = importlib.util.spec_from_file_location("audit", ROOT / "bench" / "audit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


AUDIT = _audit()


@pytest.fixture(scope="module")
def audit_ctx(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("EXPLORER_CACHE", "EXPLORER_DEPLOY")}
    ctx = AUDIT.make_context(tmp_path_factory.mktemp("audit"))
    yield ctx
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize("attack", AUDIT.ATTACKS, ids=[a.__name__ for a in AUDIT.ATTACKS])
def test_attack_holds(attack, audit_ctx):
    detail = attack(audit_ctx)
    assert isinstance(detail, str) and "Traceback" not in detail and "\n" not in detail.strip()


def test_the_write_door_follows_no_link_and_writes_only_regular_files(tmp_path):
    from explorer.atomic import open_output
    (tmp_path / "target").write_bytes(b"keep")
    os.symlink(tmp_path / "target", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name in ("link", "fifo", "dir"):
        for append in (False, True):
            with pytest.raises(FileRefused):
                open_output(tmp_path / name, append=append)
    assert (tmp_path / "target").read_bytes() == b"keep"  # the link's target neither truncated nor appended to
    with open_output(tmp_path / "log") as f:
        f.write(b"one")
    with open_output(tmp_path / "log", append=True) as f:
        f.write(b"two")
    assert (tmp_path / "log").read_bytes() == b"onetwo"
    with open_output(tmp_path / "log") as f:
        f.write(b"3")
    assert (tmp_path / "log").read_bytes() == b"3"
