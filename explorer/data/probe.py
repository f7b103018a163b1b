"""The probe set: a fixed, stratified sample of test images every analysis is measured on.

`probe_set(ds)` draws 50 test images a class with seed 0. The probe set of the CIFAR-10 JPEG
copy ships with the project as one small safetensors file (`write_shipped_probe` makes it from
the zip, `load_shipped_probe` reads it back, validated), so the shipped runs can be analysed on
a machine without CIFAR-10. Its layout:

    images   uint8 (n, 3, 32, 32)   the probe images, in (class, test index) order
    indices  int64 (n,)             their indices in the test split
    labels   int64 (n,)             their classes
    metadata (strings)              format, classes (JSON), hash, description, fingerprint, seed, size
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import settings
from ..atomic import FileMissing, FileRefused, atomic_write_bytes, read_capped
from .dataset import IMAGE_SIZE, DataError, Dataset, content_fingerprint, shown

PROBE_SIZE = 500
PROBE_SEED = 0
PROBE_FORMAT = "explorer-probe/1"
MAX_PROBE_BYTES = 64 * 1024 * 1024  # 500 images take 1.5 MB; anything far larger is not a probe file


@dataclass
class ProbeSet:
    indices: torch.Tensor  # (n,) indices into the test split, sorted by (class, index)
    images: torch.Tensor  # (n, 3, 32, 32) uint8
    labels: torch.Tensor  # (n,) int64
    classes: list[str]
    hash: str  # sha256 of indices, labels and pixels, 16 hex digits
    note: str = ""  # set when a class has fewer test images than asked for
    description: str = ""  # the data set it was drawn from, e.g. "CIFAR-10 (JPEG copy)"
    data_fingerprint: str = ""  # that data set's fingerprint


def probe_hash(indices: torch.Tensor, labels: torch.Tensor, images: torch.Tensor) -> str:
    return content_fingerprint(indices, labels, images)


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
    return ProbeSet(indices, images, labels, list(ds.classes), probe_hash(indices, labels, images), note,
                    ds.description, ds.fingerprint)


# --------------------------------------------------------------------------- the shipped file
def shipped_probe_path() -> Path:
    """The probe set of the CIFAR-10 JPEG copy that ships under `settings.PROBE_DIR`."""
    return settings.PROBE_DIR / settings.SHIPPED_PROBE_NAME


_DTYPES = {torch.uint8: "U8", torch.int64: "I64"}


def _safetensors_bytes(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> bytes:
    """The safetensors layout with its header's keys sorted, so the same probe set gives the same bytes."""
    header: dict = {"__metadata__": dict(sorted(meta.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        b = tensors[name].contiguous().numpy().tobytes()  # little-endian on every platform torch runs on
        header[name] = {"dtype": _DTYPES[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned
    return len(head).to_bytes(8, "little") + head + b"".join(blobs)


def write_shipped_probe(dataset: Dataset, path: str | Path | None = None) -> Path:
    """Store ``probe_set(dataset)`` as one safetensors file (atomically); returns its path."""
    p = probe_set(dataset)
    meta = {"format": PROBE_FORMAT, "classes": json.dumps(p.classes), "hash": p.hash, "description": dataset.description,
            "fingerprint": dataset.fingerprint, "seed": str(PROBE_SEED), "size": str(PROBE_SIZE), "note": p.note}
    tensors = {"images": p.images.contiguous(), "indices": p.indices.contiguous(), "labels": p.labels.contiguous()}
    out = Path(path) if path is not None else shipped_probe_path()
    atomic_write_bytes(out, _safetensors_bytes(tensors, meta))
    return out


def probe_metadata(path: Path, data: bytes | None = None) -> dict[str, str]:
    """The string metadata of a probe file (read through the door unless its ``data`` is given); a DataError
    when unreadable."""
    data = _probe_bytes(path) if data is None else data
    try:
        n = int.from_bytes(data[:8], "little")
        if not 0 < n <= len(data) - 8:
            raise ValueError("header length beyond the file")
        meta = json.loads(data[8:8 + n]).get("__metadata__") or {}
        if not (isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
            raise ValueError("metadata is not a map of texts")
    except (ValueError, AttributeError, RecursionError) as e:
        raise DataError(f"{shown(path)} is not a readable safetensors probe file ({type(e).__name__}).") from None
    if meta.get("format") != PROBE_FORMAT:
        raise DataError(f"{shown(path)} is not a probe file; expected metadata format {PROBE_FORMAT!r}.")
    return meta


def _probe_bytes(path: Path) -> bytes:
    try:
        return read_capped(path, MAX_PROBE_BYTES, within="/", what="probe file (a few MB at most)")
    except FileMissing:
        raise DataError(f"No probe file at {shown(path)}; regenerate it with `python -m explorer.data write-probe`.") from None
    except FileRefused as e:
        raise DataError(str(e)) from None


def _check(path: Path, t: dict[str, torch.Tensor], meta: dict[str, str]) -> ProbeSet:
    bad = f"{shown(path)} is not a valid probe file"
    if set(t) != {"images", "indices", "labels"}:
        raise DataError(f"{bad}: expected the tensors images, indices and labels, found {', '.join(sorted(t))}.")
    images, indices, labels = t["images"], t["indices"], t["labels"]
    n = images.shape[0] if images.ndim == 4 else -1
    if images.dtype != torch.uint8 or tuple(images.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE) or n < 1:
        raise DataError(f"{bad}: images are {images.dtype} {tuple(images.shape)}; expected uint8 (n, 3, 32, 32).")
    for name, x in (("indices", indices), ("labels", labels)):
        if x.dtype != torch.int64 or tuple(x.shape) != (n,):
            raise DataError(f"{bad}: {name} are {x.dtype} {tuple(x.shape)}; expected int64 ({n},).")
    try:
        classes = json.loads(meta.get("classes", ""))
    except (ValueError, RecursionError):
        classes = None
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise DataError(f"{bad}: its metadata lacks the list of class names.")
    if int(labels.min()) < 0 or int(labels.max()) >= len(classes):
        raise DataError(f"{bad}: labels outside 0..{len(classes) - 1}.")
    if int(indices.min()) < 0 or len(indices.unique()) != n:
        raise DataError(f"{bad}: test indices must be distinct and non-negative.")
    h = probe_hash(indices, labels, images)
    if h != meta.get("hash"):
        raise DataError(f"{bad}: its content hashes to {h}, not the recorded {meta.get('hash')!r}; it was altered or damaged.")
    return ProbeSet(indices, images, labels, classes, h, meta.get("note", ""), meta.get("description", ""),
                    meta.get("fingerprint", ""))


def read_probe_file(path: str | Path) -> ProbeSet:
    """One probe file, validated: tensors, shapes, dtypes, labels in range, hash recomputed."""
    from safetensors.torch import load

    path = Path(path)
    data = _probe_bytes(path)
    meta = probe_metadata(path, data)
    try:
        tensors = load(data)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{shown(path)} is not a readable safetensors probe file ({type(e).__name__}).") from None
    return _check(path, tensors, meta)


def shipped_probes() -> list[tuple[Path, dict[str, str]]]:
    """Every readable probe file under `settings.PROBE_DIR`, with its metadata (headers only)."""
    out = []
    for p in sorted(Path(settings.PROBE_DIR).glob("*.safetensors")):
        try:
            out.append((p, probe_metadata(p)))
        except DataError:
            continue  # a damaged file is no candidate; reading it directly says why
    return out


def load_shipped_probe(fingerprint: str | None = None) -> ProbeSet:
    """The shipped probe set: the CIFAR-10 JPEG copy's, or the one drawn from the data set with
    this ``fingerprint``; a DataError when none matches or the file does not validate."""
    if fingerprint is None:
        return read_probe_file(shipped_probe_path())
    for path, meta in shipped_probes():
        if meta.get("fingerprint") == fingerprint:
            return read_probe_file(path)
    raise DataError(f"No shipped probe set was drawn from the data set with fingerprint {fingerprint}; "
                    f"the shipped ones are under {shown(settings.PROBE_DIR)}.")
