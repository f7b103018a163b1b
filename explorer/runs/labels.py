"""Labels that fit: at most :data:`LIMIT` characters, unique, naming only what tells the runs shown apart.

A label starts with the model's name (a line against depth: its series, "residual + BN") and adds, one
at a time, the facet of the condition that splits the runs still sharing a label: the data set, the
training-set size, the epochs, the learning rate and the other training settings. An imported run always
says the file its weights came from (and the data set and normalisation its owner named). A facet a condition does not have (an imported file has no training settings, its data set may
be unknown) is never written as a dash and never makes other conditions differ. The whole condition is
:func:`condition_text`: the tooltip, the CSVs and the Runs page carry it.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from .record import DataInfo, RunRecord

LIMIT = 40  # characters of a label: a legend entry, a sidebar tag, a table cell

# how a training field is written, in the order facets are tried when two conditions share a label
TRAIN_FACETS: dict[str, Callable] = {
    "subset": lambda v: "all images" if v is None else f"subset {v}",
    "epochs": lambda v: f"{v} ep", "lr": lambda v: f"lr {v:g}", "batch_size": lambda v: f"batch {v}",
    "augment": lambda v: "aug" if v else "no aug", "schedule": lambda v: str(v),
    "weight_decay": lambda v: f"wd {v:g}", "momentum": lambda v: f"momentum {v:g}",
    "warmup_epochs": lambda v: f"warm-up {v:g}", "label_smoothing": lambda v: f"smoothing {v:g}",
    "val": lambda v: "no val split" if v is None else f"val {v}", "val_seed": lambda v: f"val seed {v}",
    "train_eval_size": lambda v: f"clean-train {v}",
    "bf16": lambda v: {True: "bf16", False: "fp32", None: "bf16 auto"}[v],
}
_SHORT_DATA = {"scikit-learn digits": "digits", "CIFAR-10 (JPEG copy)": "CIFAR-10 JPEG"}


def shorten(text: str, n: int) -> str:
    """``text`` in at most ``n`` characters, its middle replaced by an ellipsis (file names differ at both ends)."""
    if len(text) <= n:
        return text
    if n <= 1:
        return text[:n]
    head = (n - 1) // 2 + (n - 1) % 2
    return text[:head] + "…" + text[len(text) - (n - 1 - head):]


def data_name(data: DataInfo) -> str | None:
    """A short name of the data set (None: unknown, as for imported weights whose owner did not say)."""
    if not data.fingerprint and not data.name:
        return None
    desc = data.description or str(data.name)
    for long, short in _SHORT_DATA.items():
        if desc.startswith(long):
            return short
    return shorten(desc.split(" (")[0] or desc, 20)


def facets(rec: RunRecord) -> dict[str, str]:
    """The known facets of a run's condition, by kind (an unknown one is absent, not a dash)."""
    out = {}
    src = rec.provenance.import_source
    if src is not None:
        out["import"] = f"imported {src.file}"
    data = data_name(rec.data)
    if data is not None:
        out["data"] = data
    if rec.data.normalization != "data":
        out["normalization"] = f"{rec.data.normalization} norm"
    if rec.train is not None:
        for name, fmt in TRAIN_FACETS.items():
            out[f"train.{name}"] = fmt(getattr(rec.train, name))
    return out


ORDER = ["import", "data", "normalization", *(f"train.{k}" for k in TRAIN_FACETS)]


def condition_text(rec: RunRecord) -> str:
    """The whole condition in words: the model, every known facet (a tooltip, a CSV column, the Runs page)."""
    f = facets(rec)
    if rec.data.description and "data" in f:
        f["data"] = rec.data.description
    return ", ".join([rec.model.label, *(f[k] for k in ORDER if k in f)])


def distinguish(names: dict[str, str], known: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Key -> the facets that tell it from the keys sharing its name: a facet is added to a group that
    still shares a label only where its values split that group (a key without the facet is split off
    by having none)."""
    # an imported run is always named by its file and what its owner said of it (data set, normalisation)
    parts = {k: [known[k][x] for x in ORDER[:3] if x in known[k]] if "import" in known[k] else [] for k in names}
    label = lambda k: ", ".join([names[k], *parts[k]])  # noqa: E731
    for kind in ORDER[1:]:
        groups: dict[str, list[str]] = defaultdict(list)
        for k in names:
            groups[label(k)].append(k)
        tied = [g for g in groups.values() if len(g) > 1]
        if not tied:
            break
        for g in tied:
            if len({known[k].get(kind) for k in g}) > 1:
                for k in g:
                    if kind in known[k] and known[k][kind] not in parts[k]:
                        parts[k].append(known[k][kind])
    return parts


def fit(name: str, parts: list[str], short_name: str, limit: int = LIMIT) -> str:
    """``name`` and ``parts`` joined in at most ``limit`` characters: the short model name first, then
    each part shortened in turn, the longest first."""
    for head in (name, short_name):
        text = ", ".join([head, *parts])
        if len(text) <= limit:
            return text
    parts = [p.removeprefix("imported ") for p in parts]  # a file name says it was imported: shorten the rest first
    while len(", ".join([short_name, *parts])) > limit and parts:
        i = max(range(len(parts)), key=lambda j: len(parts[j]))
        excess = len(", ".join([short_name, *parts])) - limit
        if len(parts[i]) - excess >= 6:
            parts[i] = shorten(parts[i], len(parts[i]) - excess)
        else:
            parts.pop(i)
    return shorten(", ".join([short_name, *parts]), limit)


def unique(labels: dict[str, str], fallback: Callable[[str], str], limit: int = LIMIT) -> dict[str, str]:
    """``labels`` with every label held by several keys replaced by ``fallback(key)`` (shortened to fit)."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for k, lab in labels.items():
        by_label[lab].append(k)
    out = dict(labels)
    for keys in by_label.values():
        if len(keys) > 1:
            for k in keys:
                out[k] = fallback(k)
    return out


def status_suffix(rec: RunRecord, status: str) -> str:
    """What a run that did not end normally says after its label: "(diverged)", "(cancelled 3/30 ep)"."""
    if status in ("finished", "imported"):
        return ""
    if status == "diverged":
        return " (diverged)"
    planned = f"/{rec.epochs_planned}" if rec.epochs_planned else ""
    return f" ({status} {rec.epochs_done}{planned} ep)"
