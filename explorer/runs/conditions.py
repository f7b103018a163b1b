"""Experiment conditions, replicates and labels that tell runs apart.

A run's **condition** is everything that defines its experiment except the seed: the model
spec, the data set (its content fingerprint) and input normalisation, the training config
without its seed, and for imported weights the file they came from. Runs of one condition
are replicates; only replicates are averaged, banded, counted as seeds or drawn as one line.

Settings that change how a run is executed but not what is computed are left out of the
condition: ``device``, ``log_every`` (progress reporting), ``eval_batch_size`` and
``channels_last`` (memory layout). ``bf16`` changes the arithmetic and stays in.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ..train import TrainConfig
from .record import RunRecord

if TYPE_CHECKING:
    from .store import Run

EXECUTION_FIELDS = frozenset({"seed", "device", "log_every", "eval_batch_size", "channels_last"})
# how a training field is named in a label, and how its value is written
_TRAIN_LABELS = {
    "epochs": lambda v: f"{v} ep", "batch_size": lambda v: f"batch {v}", "lr": lambda v: f"lr {v:g}",
    "momentum": lambda v: f"momentum {v:g}", "weight_decay": lambda v: f"wd {v:g}", "schedule": lambda v: str(v),
    "warmup_epochs": lambda v: f"warm-up {v:g}", "label_smoothing": lambda v: f"smoothing {v:g}",
    "subset": lambda v: "all images" if v is None else f"subset {v}",
    "val": lambda v: "no val split" if v is None else f"val {v}", "val_seed": lambda v: f"val seed {v}", "augment": lambda v: "aug" if v else "no aug",
    "train_eval_size": lambda v: f"clean-train {v}", "bf16": lambda v: {True: "bf16", False: "fp32", None: "bf16 auto"}[v],
}


def condition_fields(rec: RunRecord, without_depth: bool = False) -> dict:
    """The condition of a run as a plain, canonical mapping (what its id is a hash of).

    ``without_depth``: the same with the model's depth left out, the key of a series drawn
    against depth (one point a depth, each point one condition).
    """
    train = None
    if rec.train is not None:
        train = {f.name: getattr(rec.train, f.name) for f in fields(TrainConfig) if f.name not in EXECUTION_FIELDS}
        if train["val"] is None:  # no validation split: the condition as it was before the split existed
            del train["val"], train["val_seed"]
    src = rec.provenance.import_source
    return {
        "model": {k: v for k, v in rec.model.to_dict().items() if not (without_depth and k == "depth")},
        "data": rec.data.fingerprint or rec.data.description,
        # "data": the statistics of the data set itself, a function of its fingerprint (recorded or not)
        "normalization": [rec.data.normalization, rec.data.mean, rec.data.std] if rec.data.normalization == "custom"
        else rec.data.normalization,
        "train": train,
        "import": None if src is None else (src.sha256 or src.file),
    }


def condition_id(rec: RunRecord, without_depth: bool = False) -> str:
    """A stable short id of the run's condition (8 hex digits)."""
    blob = json.dumps(condition_fields(rec, without_depth), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def _facets(rec: RunRecord) -> dict[str, str]:
    """Label pieces of a run's condition, by kind; the model's own name is always shown."""
    out = {"data": rec.data.description}
    if rec.data.normalization != "data":
        out["normalization"] = f"{rec.data.normalization} norm"
    src = rec.provenance.import_source
    out["import"] = f"imported {src.file}" if src is not None else "trained here"
    for name, fmt in _TRAIN_LABELS.items():
        out[f"train.{name}"] = "—" if rec.train is None else fmt(getattr(rec.train, name))
    return out


@dataclass(frozen=True)
class Labels:
    """Labels for the runs shown together: unique, and naming only what differs between them."""

    condition: dict[str, str]  # condition id -> label (the legend entry of its replicates)
    run: dict[str, str]  # run id -> label (unique among the runs given)
    condition_of: dict[str, str]  # run id -> condition id


def label_runs(records: list[RunRecord], statuses: dict[str, str] | None = None) -> Labels:
    """Labels for ``records`` shown at once; ``statuses`` (run id -> live status) marks unfinished runs.

    A condition's label is the model's name plus every facet (data set, lr, epochs, ...) whose
    value differs between the conditions shown. A run's label adds its seed, its status when it
    is not finished (e.g. "cancelled 3/30 ep"), and the end of its id if that is still needed
    to tell two runs apart.
    """
    statuses = statuses or {}
    cond_of = {r.id: condition_id(r) for r in records}
    by_cond: dict[str, RunRecord] = {}
    for r in records:
        by_cond.setdefault(cond_of[r.id], r)
    extras = _differing({c: _facets(r) for c, r in by_cond.items()})
    cond_label = {c: ", ".join([r.model.label, *extras[c]]) for c, r in by_cond.items()}
    # two conditions that differ only in a field no facet shows (say a normalisation's numbers)
    for lab, cs in _shared(cond_label).items():
        for c in cs:
            cond_label[c] = f"{lab} [condition {c}]"
    run_label = {}
    for r in records:
        parts = [cond_label[cond_of[r.id]]]
        if r.seed is not None:
            parts[0] += f", seed {r.seed}"
        status = statuses.get(r.id, r.status)
        if status not in ("finished", "imported"):
            planned = f"/{r.epochs_planned}" if r.epochs_planned else ""
            parts.append(f"[{status} {r.epochs_done}{planned} ep]")
        run_label[r.id] = " ".join(parts)
    for lab, rids in _shared(run_label).items():
        for rid in rids:
            run_label[rid] = f"{lab} · {rid[-4:]}" if len({x[-4:] for x in rids}) == len(rids) else f"{lab} · {rid}"
    return Labels(cond_label, run_label, cond_of)


def _differing(facets: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Key -> the facet values that differ between the keys shown ("trained here" goes unsaid)."""
    # a facet a record does not have (a normalisation facet is only written when it is not the data's own) reads
    # as its default, so that records of every kind can be labelled together
    keys = list(dict.fromkeys(k for f in facets.values() for k in f))
    value = {c: {k: f.get(k, "data norm" if k == "normalization" else "—") for k in keys} for c, f in facets.items()}
    kinds = [k for k in keys if len({v[k] for v in value.values()}) > 1]
    return {c: [v[k] for k in kinds if not (k == "import" and v[k] == "trained here")] for c, v in value.items()}


def _shared(labels: dict[str, str]) -> dict[str, list[str]]:
    """Label -> the keys that share it, for labels held by more than one key."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for key, lab in labels.items():
        by_label[lab].append(key)
    return {lab: keys for lab, keys in by_label.items() if len(keys) > 1}


def series_labels(records: list[RunRecord]) -> dict[str, str]:
    """Depth-free condition id -> label, for lines drawn against depth: "plain + BN", plus what else differs."""
    first: dict[str, RunRecord] = {}
    for r in records:
        first.setdefault(condition_id(r, without_depth=True), r)
    extras = _differing({c: _facets(r) for c, r in first.items()})
    out = {}
    for c, r in first.items():
        m = r.model
        name = ("residual" if m.residual else "plain") + (" + BN" if m.batchnorm else ", no BN")
        if m.scheme != "none":
            name += f" + {m.scheme_label}"
        if m.family == "resnet":
            name = f"resnet family, {name}"
        elif m.residual and m.shortcut == "B":
            name += " (shortcut B)"
        out[c] = ", ".join([name, *extras[c]])
    return out


def replicates(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Condition id -> its runs among ``records`` (in the order given)."""
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        out[condition_id(r)].append(r)
    return dict(out)


def main_experiment(records: list[RunRecord], variants_only: bool = False) -> list[RunRecord]:
    """The records of the experiment most of ``records`` belong to: the largest group sharing the data set,
    the training-set size (all images or a subset) and the number of epochs. With ``variants_only``, runs of
    a norm-free scheme (SkipInit, Fixup) are left out first, unless nothing else is there.

    What the model picker preselects: a net trained on a 5,000-image subset, or with a scheme made for
    another question, is a separate experiment, listed but not mixed into the plain-vs-residual comparison.
    Learning rates may differ inside the group (a net without BatchNorm may need a smaller one)."""
    pool = [r for r in records if r.model.scheme == "none"] if variants_only else list(records)
    pool = pool or list(records)
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in pool:
        t = r.train
        groups[(r.data.fingerprint, None if t is None else t.subset, None if t is None else t.epochs)].append(r)
    return max(groups.values(), key=len) if groups else []


def main_runs(runs: list["Run"], variants_only: bool = False) -> list["Run"]:
    """The runs whose records :func:`main_experiment` picks, in the order given."""
    main = {id(rec) for rec in main_experiment([r.record for r in runs], variants_only)}
    return [r for r in runs if id(r.record) in main]
