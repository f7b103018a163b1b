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
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from ..train import TrainConfig
from .labels import LIMIT, condition_text, distinguish, facets, fit, shorten, status_suffix, unique
from .record import RunRecord

if TYPE_CHECKING:
    from .store import Run

EXECUTION_FIELDS = frozenset({"seed", "device", "log_every", "eval_batch_size", "channels_last"})


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


@dataclass(frozen=True)
class Labels:
    """Labels for the runs shown together: unique, at most 40 characters, naming only what differs between them."""

    condition: dict[str, str]  # condition id -> label (the legend entry of its replicates)
    run: dict[str, str]  # run id -> label (unique among the runs given)
    condition_of: dict[str, str]  # run id -> condition id
    full: dict[str, str] = field(default_factory=dict)  # condition id -> the whole condition in words (tooltips, CSVs)


def label_runs(records: list[RunRecord], statuses: dict[str, str] | None = None) -> Labels:
    """Labels for ``records`` shown at once; ``statuses`` (run id -> live status) marks unfinished runs.

    A condition's label is the model's name plus the facets (where the weights came from, data set,
    epochs, lr, ...) that tell it from the conditions that would otherwise share its label
    (:func:`explorer.runs.labels.distinguish`); a condition whose every run diverged says so. A run's
    label adds its seed, its status when it did not end normally (e.g. "(cancelled 3/30 ep)"), and the
    end of its id if that is still needed to tell two runs apart. Every label fits :data:`LIMIT`.
    """
    statuses = statuses or {}
    cond_of = {r.id: condition_id(r) for r in records}
    by_cond: dict[str, RunRecord] = {}
    for r in records:
        by_cond.setdefault(cond_of[r.id], r)
    names = {c: r.model.label for c, r in by_cond.items()}
    parts = distinguish(names, {c: facets(r) for c, r in by_cond.items()})
    short = {c: r.model.name for c, r in by_cond.items()}
    all_diverged = {c for c in by_cond if all(statuses.get(r.id, r.status) == "diverged"
                                               for r in records if cond_of[r.id] == c)}

    fallback: set[str] = set()

    def cond_text(c: str, tail: str = "") -> str:  # the condition's label in what room the tail leaves
        if c in fallback:  # two conditions no facet tells apart (say a normalisation's numbers): the id does
            return fit(short[c], [f"#{c}"], short[c], LIMIT - len(tail)) + tail
        return fit(names[c], parts[c], short[c], LIMIT - len(tail)) + tail

    first = {c: cond_text(c) for c in by_cond}
    fallback = {c for c, lab in first.items() if list(first.values()).count(lab) > 1}
    cond_label = {c: cond_text(c, " (diverged)" if c in all_diverged else "") for c in by_cond}
    tails = {}
    for r in records:
        tail = "" if r.seed is None else f", seed {r.seed}"
        tails[r.id] = tail + status_suffix(r, statuses.get(r.id, r.status))
    run_label = {r.id: cond_text(cond_of[r.id], tails[r.id]) for r in records}
    for end in (4, 11, 100):  # two runs of one condition and seed: the end of their ids tells them apart
        run_label = unique(run_label, lambda rid: cond_text(cond_of[rid], f"{tails[rid]} · {rid[-end:]}"))
    return Labels(cond_label, run_label, cond_of, {c: condition_text(r) for c, r in by_cond.items()})


def series_labels(records: list[RunRecord]) -> dict[str, str]:
    """Depth-free condition id -> label, for lines drawn against depth: "plain + BN", plus what tells it apart."""
    first: dict[str, RunRecord] = {}
    for r in records:
        first.setdefault(condition_id(r, without_depth=True), r)
    mixed = len({r.model.family for r in first.values()}) > 1
    names = {}
    for c, r in first.items():
        m = r.model
        name = ("residual" if m.residual else "plain") + (" + BN" if m.batchnorm else ", no BN")
        if m.scheme != "none":  # a scheme stands in for BatchNorm in a residual net
            name = "residual + " + m.scheme_label.replace("(simplified)", "(simpl.)")
        if m.family == "resnet" and mixed:
            name = f"resnet family, {name}"
        elif m.family == "cifar" and m.residual and m.shortcut == "B":
            name += " (shortcut B)"
        names[c] = name
    parts = distinguish(names, {c: facets(r) for c, r in first.items()})
    short = {c: n.replace("residual", "res").replace("resnet family", "rn family") for c, n in names.items()}
    out = {c: fit(names[c], parts[c], short[c]) for c in first}
    return unique(out, lambda c: fit(short[c], [f"#{c}"], short[c]))


def replicates(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Condition id -> its runs among ``records`` (in the order given)."""
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        out[condition_id(r)].append(r)
    return dict(out)


def main_experiment(records: list[RunRecord], variants_only: bool = False) -> list[RunRecord]:
    """The records of the experiment most of ``records`` belong to: the largest group sharing the data set,
    the training-set size (all images or a subset) and the number of epochs. With ``variants_only``, runs of
    a norm-free scheme (SkipInit, Fixup) are left out first, unless nothing else is there; imported runs too.

    What the model picker preselects: a net trained on a 5,000-image subset, or with a scheme made for
    another question, is a separate experiment, listed but not mixed into the plain-vs-residual comparison.
    Learning rates may differ inside the group (a net without BatchNorm may need a smaller one)."""
    pool = [r for r in records if r.model.scheme == "none"] if variants_only else list(records)
    pool = pool or list(records)
    # imported weights were not trained here (no recipe, no curves): the experiment is what was trained, if any
    pool = [r for r in pool if r.train is not None] or pool
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in pool:
        t = r.train
        groups[(r.data.fingerprint, None if t is None else t.subset, None if t is None else t.epochs)].append(r)
    return max(groups.values(), key=len) if groups else []


def main_runs(runs: list["Run"], variants_only: bool = False) -> list["Run"]:
    """The runs whose records :func:`main_experiment` picks, in the order given."""
    main = {id(rec) for rec in main_experiment([r.record for r in runs], variants_only)}
    return [r for r in runs if id(r.record) in main]


def did_not_train(r) -> bool:
    """A finished run whose clean training accuracy never left chance (below 1.5 x 1/classes): it did not
    train at its recipe, which is a failure of that recipe, not degradation; kept out of every average of a
    degradation chart and of every contrast of the verdict."""
    f = r.record.final
    if f is None:
        return False
    acc = f.clean_train_acc
    classes = len(r.record.data.classes or ()) or 10
    return acc is not None and acc < 1.5 / classes
