"""Labels that fit (issue 30): the walk-through's store (the shipped zoo, an own digits run, an imported
CIFAR ResNet .th) gives every run, condition and series a unique label of at most 40 characters."""
import json
from pathlib import Path

import pytest
import torch

from explorer.data import load_digits
from explorer.importer import import_file
from explorer.jobs.runner import data_info
from explorer.models import ModelSpec
from explorer.runs import create_run, label_runs, list_runs, series_labels, update_record, write_weights
from explorer.runs.labels import LIMIT, fit, shorten
from explorer.train import TrainConfig
from helpers import akamaster_layout, randomized

ZOO = Path(__file__).resolve().parents[1] / "checkpoints"


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    """Own runs beside the shipped zoo: a resnet20 on digits with the Train form's digits defaults and an
    imported akamaster resnet20 (the zoo is read where it is, like the app's "both" source)."""
    root = tmp_path_factory.mktemp("walk")
    digits = load_digits()
    cfg = TrainConfig(epochs=2, batch_size=64, augment=False, seed=0)  # the Train form's defaults on digits
    run = create_run(root, ModelSpec("cifar", 20, True, True), cfg, data_info(digits, "digits"), "", status="running")
    model = randomized("resnet20")  # labels read the record: untrained weights stand in for trained ones
    write_weights(run.path / "weights.safetensors", model.state_dict(), model.spec)
    (run.path / "history.json").write_text(json.dumps({"epochs": [{"epoch": e, "test_acc": 0.9} for e in (1, 2)]}))
    update_record(run, status="finished", epochs_done=2)
    th = root.parent / "resnet20-12fca82f.th"
    torch.save({"state_dict": akamaster_layout(randomized("resnet20"))}, th)
    import_file(th, ModelSpec("cifar", 20, True, True), root)
    return root


def _runs(root):
    return list_runs(ZOO).runs + list_runs(root).runs


def _check(labels: dict[str, str]) -> None:
    too_long = {v for v in labels.values() if len(v) > LIMIT}
    assert not too_long, too_long
    assert len(set(labels.values())) == len(labels), sorted(labels.values())
    assert not any("—" in v or " -," in v for v in labels.values()), "an unknown facet is left out, not a dash"


def test_walkthrough_labels_fit_and_are_unique(walkthrough):
    runs = _runs(walkthrough)
    assert len(runs) >= 20
    recs = [r.record for r in runs]
    labels = label_runs(recs, {r.id: r.status for r in runs})
    _check(labels.run)
    _check(labels.condition)
    imported = next(r for r in recs if r.provenance.import_source is not None)
    assert "resnet20-12fca82f.th" in labels.run[imported.id], "an imported run is named by its file"
    own = next(r for r in recs if r.data.description.startswith("scikit-learn digits"))
    assert "digits" in labels.run[own.id]
    # the whole condition stays available (tooltip, CSV, Runs page)
    assert "batch 64" in labels.full[labels.condition_of[own.id]]
    for family in ("cifar", "resnet"):
        _check(series_labels([r for r in recs if r.model.family == family]))
    _check(series_labels(recs))
    # any subset is labelled as tightly: e.g. the zoo's resnet20 variants with the own and the imported run
    some = [r for r in recs if r.model.depth == 20]
    _check(label_runs(some).run)


def test_labels_name_only_what_differs(walkthrough):
    recs = [r.record for r in _runs(walkthrough)]
    seeds = [r for r in recs if r.model.name == "resnet20" and r.provenance.import_source is None
             and r.data.description.startswith("CIFAR")]
    assert sorted(label_runs(seeds).run.values()) == [f"resnet20 (FULL), seed {r.seed}" for r in
                                                      sorted(seeds, key=lambda r: r.seed)]
    lr_pair = [r for r in recs if r.model.name == "resnet20-nobn"]
    names = label_runs(lr_pair).run
    assert sorted(names.values()) == ["resnet20-nobn (Nbn), lr 0.01, seed 0", "resnet20-nobn (Nbn), lr 0.1, seed 0"]


def test_fit_shortens_the_middle_and_keeps_the_limit():
    assert shorten("abcdefghij", 5) == "ab…ij"
    assert len(shorten("x" * 100, 40)) == 40
    text = fit("resnet20-nobn-fixupsimple (Nbn+Fixup (simplified))", ["imported a-very-long-file-name-indeed.pt"],
               "resnet20-nobn-fixupsimple")
    assert len(text) <= LIMIT and text.startswith("resnet20-nobn-fixupsimple")
