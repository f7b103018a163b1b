"""The shipped reference zoo loads and validates, and the results page regenerates exactly."""
from pathlib import Path

import pytest

from explorer.runs import list_runs, validate_run

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "checkpoints"


def zoo_runs():
    return list_runs(ZOO).runs


def test_every_zoo_run_is_valid():
    listing = list_runs(ZOO)
    items = listing.runs
    assert items, "no runs in checkpoints/"
    assert not listing.broken, listing.broken
    for run in items:
        validate_run(run)
        assert run.status in ("finished", "diverged"), (run.id, run.status)
        assert run.record.data.description == "CIFAR-10 (JPEG copy)"
        t = run.train_config
        if run.status == "diverged":  # an outcome the zoo keeps (BatchNorm's role): its record says where
            assert len(run.history()) == run.record.epochs_done < t.epochs and run.record.reason
            continue
        assert len(run.history()) == run.record.epochs_done == t.epochs
        log = run.gradlog()
        assert log is not None and log.mean_abs.shape[0] == run.record.epochs_done * ((t.subset or 50000) // t.batch_size)


def test_required_zoo_is_present():
    names = {(r.spec.name, r.train_config.lr) for r in zoo_runs()}
    for name in ["resnet20", "resnet20-nores", "resnet56", "resnet56-nores", "resnet20-nobn", "resnet20-nores-nobn"]:
        assert any(n == name for n, _ in names), name
    best20 = max(r.record.final.test_acc for r in zoo_runs() if r.spec.name == "resnet20")
    assert best20 >= 0.85


def test_small_zoo_models_load_and_predict():
    import torch
    run = next(r for r in zoo_runs() if r.spec.name == "resnet20")
    model = run.load_model()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_report_regenerates_the_committed_page(tmp_path, monkeypatch):
    from explorer.report.main import build
    committed = ROOT / "docs" / "RESULTS.md"
    if not committed.exists():
        pytest.fail("docs/RESULTS.md is missing; run `python -m explorer report`")
    monkeypatch.chdir(ROOT)
    text = build(Path("checkpoints"), tmp_path / "RESULTS.md", figures=False)
    assert text == committed.read_text()
    for fig in ("degradation", "curves", "gradients"):
        assert (ROOT / "docs" / "figures" / f"{fig}.png").exists()
