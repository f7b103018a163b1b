"""The typed run record: config.json parsed and validated once, frozen from then on.

A run folder's ``config.json`` is read only here (`parse_record`) and written only here
(`RunRecord.to_json`); every other module sees a `RunRecord`. The on-disk format is the one
the shipped zoo was written in, so its folders load unchanged; the one migration is for
runs imported by earlier versions, whose made-up training config (``epochs: 1``) is dropped
and whose ``imported_from`` becomes an `ImportSource`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..models import ModelSpec, ModelSpecError
from ..train import ConfigError, TrainConfig

STATUSES = ("running", "finished", "diverged", "cancelled", "failed", "interrupted", "imported")
FINAL_KEYS = ("train_acc", "test_acc", "train_loss", "test_loss", "train_eval_acc", "train_eval_loss")
NORMALIZATIONS = ("data", "cifar10", "imagenet", "custom")
MAX_DEPTH = 2000  # deeper than any net here (resnet1202); a bound on what a record may ask to build
MAX_CLASSES = 10000


class RecordError(ValueError):
    """A config.json that is not a valid run record; the message names the field."""


def _need(ok: bool, where: str, msg: str) -> None:
    if not ok:
        raise RecordError(f"config.json of {where}: {msg}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _opt_str(d: dict, key: str, where: str, limit: int = 4000) -> str | None:
    v = d.get(key)
    _need(v is None or isinstance(v, str), where, f"{key!r} must be a string.")
    return None if v is None else v[:limit]


def _floats(v, n: int | None, where: str, key: str) -> tuple[float, ...] | None:
    if v is None:
        return None
    _need(isinstance(v, list) and (n is None or len(v) == n) and all(_is_num(x) and math.isfinite(x) for x in v),
          where, f"{key!r} must be a list of {n or 'some'} finite numbers.")
    return tuple(float(x) for x in v)


@dataclass(frozen=True)
class DataInfo:
    """The data set a run was trained on (or, for an import, that its owner named)."""

    name: str | None  # "cifar10", "digits", a folder / zip path; None: unknown
    source: str | None  # what to load it from (same as name for runs of this version)
    description: str  # e.g. "CIFAR-10 (JPEG copy)"
    fingerprint: str  # content hash of the decoded data set; "" when unknown
    classes: tuple[str, ...] | None
    n_train: int | None = None
    n_test: int | None = None
    mean: tuple[float, float, float] | None = None  # input normalisation; None: the data set's own statistics
    std: tuple[float, float, float] | None = None
    normalization: str = "data"  # data | cifar10 | imagenet | custom: where mean/std come from

    @staticmethod
    def parse(d: Any, where: str) -> "DataInfo":
        _need(isinstance(d, dict), where, "'data' must be an object.")
        classes = d.get("classes")
        _need(classes is None or (isinstance(classes, list) and 2 <= len(classes) <= 10000
                                  and all(isinstance(c, str) for c in classes)), where,
              "'data.classes' must be a list of 2 to 10000 class names.")
        for k in ("n_train", "n_test"):
            _need(d.get(k) is None or (_is_int(d[k]) and d[k] >= 0), where, f"'data.{k}' must be a count.")
        norm = d.get("normalization", "data")
        _need(norm in NORMALIZATIONS, where, f"'data.normalization' must be one of {', '.join(NORMALIZATIONS)}.")
        std = _floats(d.get("std"), 3, where, "data.std")
        _need(std is None or all(s > 0 for s in std), where, "'data.std' must be positive.")
        return DataInfo(_opt_str(d, "name", where), _opt_str(d, "source", where),
                        _opt_str(d, "description", where) or "unknown data set", _opt_str(d, "fingerprint", where) or "",
                        tuple(classes) if classes else None, d.get("n_train"), d.get("n_test"),
                        _floats(d.get("mean"), 3, where, "data.mean"), std, norm)

    def to_json(self) -> dict:
        out = {"name": self.name, "source": self.source, "description": self.description, "fingerprint": self.fingerprint,
               "classes": list(self.classes) if self.classes else None, "n_train": self.n_train, "n_test": self.n_test}
        if self.mean is not None:
            out.update(mean=list(self.mean), std=list(self.std))
        if self.normalization != "data":
            out["normalization"] = self.normalization
        return out


@dataclass(frozen=True)
class Final:
    """Accuracies (fractions) and mean losses after the last finished epoch; None where not measured."""

    train_acc: float | None = None  # running accuracy over the last epoch's augmented batches
    test_acc: float | None = None
    train_loss: float | None = None
    test_loss: float | None = None
    train_eval_acc: float | None = None  # clean: eval mode, no augmentation, a fixed train subset
    train_eval_loss: float | None = None
    test_per_class: tuple[float, ...] | None = None  # set by `evaluate`
    evaluated_on: str | None = None  # what `evaluate` measured the test numbers on

    @property
    def clean_train_acc(self) -> float | None:
        return self.train_eval_acc if self.train_eval_acc is not None else self.train_acc

    @staticmethod
    def parse(d: Any, where: str) -> "Final | None":
        if d is None:
            return None
        _need(isinstance(d, dict), where, "'final' must be an object or null.")
        vals = {}
        for k in FINAL_KEYS:
            v = d.get(k)
            _need(v is None or (_is_num(v) and math.isfinite(v)), where, f"'final.{k}' must be a finite number or null.")
            vals[k] = None if v is None else float(v)
        return Final(**vals, test_per_class=_floats(d.get("test_per_class"), None, where, "final.test_per_class"),
                     evaluated_on=_opt_str(d, "evaluated_on", where))

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in FINAL_KEYS}
        if self.test_per_class is not None:
            out["test_per_class"] = list(self.test_per_class)
        if self.evaluated_on is not None:
            out["evaluated_on"] = self.evaluated_on
        return out


@dataclass(frozen=True)
class ImportSource:
    """Where an imported run's weights came from."""

    file: str  # the file name as given
    sha256: str | None  # of the file's bytes (None for imports made before this was recorded)

    def to_json(self) -> dict:
        return {"file": self.file, "sha256": self.sha256}


@dataclass(frozen=True)
class Provenance:
    created: str  # local time, ISO 8601
    devices: tuple[str, ...] = ()  # every device it trained on, in order
    versions: tuple[tuple[str, str], ...] = ()  # (package, version)
    owner: str = ""  # the app session that queued it (deploy mode)
    import_source: ImportSource | None = None
    weights_omitted: str | None = None  # why weights.safetensors is absent (zoo runs whose weights are too large)
    traceback: str | None = None  # the end of the traceback of a failed run


@dataclass(frozen=True)
class RunRecord:
    id: str
    model: ModelSpec
    data: DataInfo
    train: TrainConfig | None  # None: imported weights, no training known
    status: str  # as written; the store turns a dead trainer's "running" into "interrupted"
    reason: str = ""  # why it failed / diverged / was cancelled
    epochs_done: int = 0
    final: Final | None = None
    diverged: tuple[int, int] | None = None  # (epoch, step) of the first non-finite loss
    probe_hash: str = ""
    provenance: Provenance = field(default_factory=lambda: Provenance(created=""))

    @property
    def seed(self) -> int | None:
        return None if self.train is None else self.train.seed

    @property
    def imported(self) -> bool:
        return self.provenance.import_source is not None

    @property
    def epochs_planned(self) -> int | None:
        return None if self.train is None else self.train.epochs

    def with_changes(self, **changes) -> "RunRecord":
        return replace(self, **changes)

    def to_json(self) -> dict:
        p = self.provenance
        out = {"id": self.id, "created": p.created, "model": self.model.to_dict(), "model_name": self.model.name,
               "variant": self.model.variant, "train": None if self.train is None else self.train.to_dict(),
               "data": self.data.to_json(), "probe_hash": self.probe_hash, "versions": dict(p.versions),
               "status": self.status, "epochs_done": self.epochs_done,
               "final": None if self.final is None else self.final.to_json(),
               "diverged": None if self.diverged is None else {"epoch": self.diverged[0], "step": self.diverged[1]},
               "message": self.reason}
        if p.devices:
            out["device"], out["devices"] = p.devices[-1], list(p.devices)
        for key, value in (("owner", p.owner), ("weights_omitted", p.weights_omitted), ("traceback", p.traceback)):
            if value:
                out[key] = value
        if p.import_source is not None:
            out["import"] = p.import_source.to_json()
        return out


def _provenance(d: dict, where: str) -> Provenance:
    devices = d.get("devices")
    if devices is None:
        devices = [d["device"]] if isinstance(d.get("device"), str) else []
    _need(isinstance(devices, list) and all(isinstance(x, str) for x in devices), where, "'devices' must be a list of names.")
    versions = d.get("versions") or {}
    _need(isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values()), where,
          "'versions' must map package names to version strings.")
    imp = d.get("import")
    source = None
    if isinstance(imp, dict) and isinstance(imp.get("file"), str):
        sha = imp.get("sha256")
        source = ImportSource(imp["file"], sha if isinstance(sha, str) else None)
    elif isinstance(d.get("imported_from"), str):  # written by earlier versions
        source = ImportSource(d["imported_from"], None)
    else:
        _need(imp is None, where, "'import' must be an object with a 'file'.")
    return Provenance(_opt_str(d, "created", where) or "", tuple(x[:200] for x in devices),
                      tuple(sorted((str(k)[:40], v[:80]) for k, v in versions.items())), _opt_str(d, "owner", where) or "",
                      source, _opt_str(d, "weights_omitted", where), _opt_str(d, "traceback", where))


def check_bounds(spec: ModelSpec) -> None:
    """A model spec within what the explorer builds (depth, classes): checked before anything is built."""
    if not 1 <= spec.depth <= MAX_DEPTH:
        raise RecordError(f"A depth of {spec.depth} is beyond what the explorer builds (at most {MAX_DEPTH} layers).")
    if not 2 <= spec.num_classes <= MAX_CLASSES:
        raise RecordError(f"{spec.num_classes} classes is beyond what the explorer builds (2 to {MAX_CLASSES}).")


def parse_record(d: Any, run_id: str) -> RunRecord:
    """Validate a config.json object and build its record; a RecordError names what is wrong."""
    where = run_id
    _need(isinstance(d, dict), where, "it must hold a JSON object.")
    missing = [k for k in ("model", "data", "status", "epochs_done") if k not in d]
    _need(not missing, where, f"it lacks {', '.join(missing)}.")
    status = d["status"]
    _need(status in STATUSES, where, f"unknown status {status!r}; expected one of {', '.join(STATUSES)}.")
    raw = d["model"]
    _need(isinstance(raw, dict), where, "'model' must be an object.")
    for key, lo, hi in (("depth", 1, MAX_DEPTH), ("num_classes", 2, MAX_CLASSES)):  # bounded before anything is built
        v = raw.get(key, 10 if key == "num_classes" else None)
        _need(_is_int(v) and lo <= v <= hi, where, f"'model.{key}' must be an integer from {lo} to {hi}.")
    try:
        model = ModelSpec.from_dict(raw)
    except (ModelSpecError, TypeError) as e:
        raise RecordError(f"config.json of {where}: its model spec is invalid ({e})") from None
    data = DataInfo.parse(d["data"], where)
    _need(data.classes is None or len(data.classes) == model.num_classes, where,
          f"the model has {model.num_classes} outputs but the data set lists {len(data.classes or ())} classes.")
    prov = _provenance(d, where)
    train = None
    if not (status == "imported" or prov.import_source is not None):
        _need("train" in d, where, "it lacks train.")
        try:
            train = TrainConfig.from_dict(d["train"])
        except (ConfigError, TypeError) as e:
            raise RecordError(f"config.json of {where}: its training config is invalid ({e})") from None
    _need(_is_int(d["epochs_done"]) and 0 <= d["epochs_done"] <= 100000, where, "'epochs_done' must be a count.")
    div = d.get("diverged")
    _need(div is None or (isinstance(div, dict) and _is_int(div.get("epoch")) and _is_int(div.get("step"))), where,
          "'diverged' must be null or an object with epoch and step.")
    probe_hash = d.get("probe_hash") or ""
    _need(isinstance(probe_hash, str), where, "'probe_hash' must be a string.")
    return RunRecord(id=run_id, model=model, data=data, train=train, status=status,
                     reason=_opt_str(d, "message", where) or "", epochs_done=d["epochs_done"],
                     final=Final.parse(d.get("final"), where),
                     diverged=None if div is None else (div["epoch"], div["step"]), probe_hash=probe_hash, provenance=prov)
