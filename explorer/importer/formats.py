"""Which format a weights file is in, decided from its bytes, and checks made before it is unpacked.

Three formats are read, whatever the file's name:

* **safetensors**: an 8-byte little-endian header length, then a JSON header;
* **PyTorch zip** (``torch.save`` since 1.6): zip magic ``PK\\x03\\x04``;
* **PyTorch legacy** (before 1.6): a protocol-2 pickle of torch's magic number, then pickles,
  then the raw storages.

Nothing is unpacked before its declared size is checked against a bound (`import_limit`: the
model's own size x 2 + 16 MB, and never more than the upload cap):

* safetensors: the sizes the header declares (dtype x shape, and the byte ranges) must add up to
  at most the bound and lie inside the file;
* zip: the central directory's uncompressed sizes must add up to at most the bound, no member
  may be compressed more than `MAX_RATIO` to 1 (torch stores members uncompressed), and the
  storages ``data.pkl`` declares (scanned, never unpickled) must fit in the members that hold them;
* legacy: the format is not compressed, so what it can honestly hold is what the file holds:
  the storages its pickle declares (scanned with `pickle_scan`) must add up to at most the bytes
  after the pickles, and to at most the bound. (torch allocates every declared storage before
  reading it, so a small legacy file could otherwise ask for any amount of memory.)

Only then is the file read, with ``torch.load(weights_only=True)``: never a plain unpickle.
"""
from __future__ import annotations

import io
import json
import math
import pickle
import zipfile

import torch

from ..runs import RunError
from ..settings import shorten
from .pickle_scan import PickleScanError, scan_pickle

MB = 1024 * 1024
SLACK = 16 * MB  # headers, optimizer counters, a copy in float64 ...
MAX_RATIO = 100  # deflate tops out near 1000:1 on zeros; real weights compress less than 2:1
MAX_HEADER = 16 * MB  # a safetensors header of resnet152 is ~100 KB
MAX_MEMBERS = 100_000
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"  # pickle of 0x1950a86a20f9469cfc6c
ST_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
            "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "C64": 8, "C128": 16}


class ImportRefused(RunError):
    """A file that is not accepted as weights; the message says why."""


def import_limit(expected_bytes: int, max_bytes: int) -> int:
    """The most tensor bytes a file for a model of ``expected_bytes`` may declare."""
    return min(2 * expected_bytes + SLACK, max_bytes)


def sniff(data: bytes) -> str | None:
    """``safetensors``, ``zip``, ``legacy``, or None when the bytes are none of the three."""
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data.startswith(LEGACY_MAGIC):
        return "legacy"
    if len(data) >= 10:
        n = int.from_bytes(data[:8], "little")
        if 2 <= n <= len(data) - 8 and data[8:9] == b"{":
            return "safetensors"
    return None


def _too_big(name: str, declared: int, limit: int) -> ImportRefused:
    return ImportRefused(f"{name} declares {declared:,} bytes of tensors, more than the {limit:,} a file of this model "
                         "may hold (twice its weights plus 16 MB); save only the model's state dict.")


def check_safetensors(data: bytes, name: str, limit: int) -> None:
    n = int.from_bytes(data[:8], "little")
    bad = ImportRefused(f"{name} is not a valid safetensors file (its header cannot be read).")
    if n > min(len(data) - 8, MAX_HEADER):
        raise bad
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, RecursionError):
        raise bad from None
    if not isinstance(header, dict):
        raise bad
    total, body = 0, len(data) - 8 - n
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            shape, (begin, end), size = info["shape"], info["data_offsets"], ST_BYTES[info["dtype"]]
            ok = all(isinstance(d, int) and d >= 0 for d in (*shape, begin, end))
        except (KeyError, TypeError, ValueError):
            raise ImportRefused(f"{name} is not a valid safetensors file (tensor {shorten(key, 60)} is described "
                                "without a known dtype, a shape and a byte range).") from None
        declared = math.prod(shape) * size if ok else -1
        if not ok or end - begin != declared or end > body:
            raise ImportRefused(f"{name} is not a valid safetensors file (tensor {shorten(key, 60)} does not fit "
                                "the bytes it points to).")
        total += declared
        if total > limit:
            raise _too_big(name, total, limit)


def check_zip(data: bytes, name: str, limit: int) -> None:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))  # reads the central directory only
        members = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise ImportRefused(f"{name} is not a PyTorch file this version can read (its zip directory is damaged).") from None
    if len(members) > MAX_MEMBERS:
        raise ImportRefused(f"{name} holds {len(members):,} files; a PyTorch checkpoint holds one a tensor.")
    total = sum(m.file_size for m in members)
    if total > limit:
        raise _too_big(name, total, limit)
    for m in members:
        if m.compress_type != zipfile.ZIP_STORED and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise ImportRefused(f"{name} holds a member compressed more than {MAX_RATIO} to 1 "
                                f"({m.file_size:,} bytes in {m.compress_size:,}); refused as a decompression bomb.")
    pkls = [m for m in members if m.filename.endswith("data.pkl")]
    if len(pkls) != 1:
        raise ImportRefused(f"{name} is a zip file but not a PyTorch checkpoint (it has no single data.pkl).")
    prefix = pkls[0].filename[: -len("data.pkl")]
    sizes = {m.filename: m.file_size for m in members}
    try:
        storages = scan_pickle(io.BytesIO(z.read(pkls[0])))
    except (PickleScanError, zipfile.BadZipFile, OSError, EOFError, RuntimeError):
        raise ImportRefused(f"{name} is not a PyTorch file this version can read (its data.pkl is damaged).") from None
    for s in {s.key: s for s in storages}.values():
        if s.nbytes > sizes.get(f"{prefix}data/{s.key}", -1):
            raise ImportRefused(f"{name} declares a tensor of {s.nbytes:,} bytes that its file does not hold; "
                                "it is damaged or crafted, so it was refused.")


def check_legacy(data: bytes, name: str, limit: int) -> None:
    f = io.BytesIO(data)
    try:
        for _ in range(3):  # magic number, protocol version, system info
            scan_pickle(f)
        storages = {s.key: s for s in scan_pickle(f)}.values()
        scan_pickle(f)  # the list of storage keys
    except PickleScanError:
        raise ImportRefused(f"{name} is not a PyTorch file this version can read (its pickles are damaged).") from None
    declared = sum(s.nbytes for s in storages)
    held = len(data) - f.tell() - 8 * len(storages)  # each storage is preceded by its 8-byte length
    if declared > limit:
        raise _too_big(name, declared, limit)
    if declared > held:
        raise ImportRefused(f"{name} declares {declared:,} bytes of tensors but holds only {max(held, 0):,}; it is "
                            "damaged or crafted, so it was refused.")


def _torch_load(data: bytes, name: str):
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" in str(e).lower():  # the weights-only unpickler met an object it does not allow
            raise ImportRefused(f"{name} contains Python objects other than tensors and plain containers; such files "
                                "can run code when loaded, so it was refused (save a state dict or use safetensors).") from None
        raise ImportRefused(f"{name} is not a PyTorch file this version can read (its pickle is damaged).") from None
    except (RuntimeError, EOFError, ValueError, OSError, TypeError, KeyError, AttributeError, IndexError,
            zipfile.BadZipFile, MemoryError, OverflowError):
        raise ImportRefused(f"{name} is not a PyTorch file this version can read; it may be damaged or truncated.") from None


def load_object(data: bytes, name: str, limit: int):
    """The object a weights file holds (for safetensors: its dict of tensors), after the size checks."""
    kind = sniff(data)
    if kind == "safetensors":
        check_safetensors(data, name, limit)
        from safetensors import SafetensorError
        from safetensors.torch import load
        try:
            return load(data)
        except (SafetensorError, ValueError, RuntimeError, OverflowError):
            raise ImportRefused(f"{name} is not a valid safetensors file (its tensors cannot be read).") from None
    if kind == "zip":
        check_zip(data, name, limit)
        return _torch_load(data, name)
    if kind == "legacy":
        check_legacy(data, name, limit)
        return _torch_load(data, name)
    raise ImportRefused(f"{name} is neither a safetensors file nor a PyTorch checkpoint (zip or pre-1.6 format), "
                        "judging by its bytes.")
