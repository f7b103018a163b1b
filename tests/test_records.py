"""Run records and conditions: only replicates are averaged, every label tells runs apart.

The mixed store holds what went wrong before: two lr variants of one model, three seeds of one
condition (from the shipped zoo), a digits run, an imported run, a failed-job folder and a
diverged run. It is driven through the tables, `runs --json`, the report and every page.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.data import load_digits
from explorer.importer import import_file
from explorer.models import parse_model_name
from explorer.jobs.runner import start_run
from explorer.runs import (RunError, condition_id, create_run, delete_run, label_runs, list_runs, open_run,
                           parse_record, update_record)
from explorer.analysis.run_tables import band, degradation_table, history_table, runs_table
from explorer.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "checkpoints"
FAST = dict(batch_size=64, augment=False, train_eval_size=200)


def _zoo(prefix: str) -> list[Path]:
    import re
    return sorted(p for p in ZOO.iterdir() if re.match(re.escape(prefix) + r"-s\d+-", p.name))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    for p in _zoo("resnet20") + _zoo("resnet20-nobn"):  # 3 seeds of one condition; the lr 0.1 / 0.01 pair
        shutil.copytree(p, root / p.name)
    digits = load_digits()
    spec = parse_model_name("resnet20")
    digits_run, _ = start_run(spec, TrainConfig(epochs=1, lr=0.05, **FAST), "digits", root, data=digits)
    diverged, _ = start_run(spec, TrainConfig(epochs=1, lr=1e6, **FAST), "digits", root, data=digits)
    imported = import_file(digits_run.path / "weights.safetensors", spec, root)
    failed = create_run(root, spec, TrainConfig(epochs=3, seed=5), digits_run.record.data, "", status="running")
    update_record(failed, status="failed", reason="OverflowError: simulated failure before the first epoch")
    return {"root": root, "digits": digits_run.id, "diverged": diverged.id, "imported": imported.id, "failed": failed.id}


def test_zoo_records_round_trip():
    for p in _zoo("resnet20") + _zoo("resnet110"):
        raw = json.loads((p / "config.json").read_text())
        rec = parse_record(raw, p.name)
        assert parse_record(rec.to_json(), p.name) == rec


def test_conditions_group_exactly_the_replicates(mixed):
    runs = {r.id: r for r in list_runs(mixed["root"]).runs}
    cond = {rid: condition_id(r.record) for rid, r in runs.items()}
    seeds = [p.name for p in _zoo("resnet20")]
    assert len({cond[s] for s in seeds}) == 1, "three seeds of one recipe are replicates"
    lr_pair = [p.name for p in _zoo("resnet20-nobn")]
    assert cond[lr_pair[0]] != cond[lr_pair[1]], "lr 0.1 and lr 0.01 are two experiments"
    for other in ("digits", "imported", "diverged"):
        assert cond[mixed[other]] != cond[seeds[0]]
    assert cond[mixed["digits"]] != cond[mixed["imported"]]


def test_labels_are_unique_and_name_what_differs(mixed):
    runs = list_runs(mixed["root"]).runs
    labels = label_runs([r.record for r in runs], {r.id: r.status for r in runs})
    assert len(set(labels.run.values())) == len(runs)
    lr_pair = [labels.run[p.name] for p in _zoo("resnet20-nobn")]
    assert any("lr 0.01" in x for x in lr_pair) and any("lr 0.1" in x for x in lr_pair)
    assert "digits" in labels.run[mixed["digits"]] and "imported" in labels.run[mixed["imported"]]
    assert "failed" in labels.run[mixed["failed"]] and "diverged" in labels.run[mixed["diverged"]]
    # among the three replicates alone nothing differs but the seed: the label says only that
    alone = [r for r in runs if r.id in {p.name for p in _zoo("resnet20")}]
    names = label_runs([r.record for r in alone]).run
    assert sorted(names.values()) == [f"resnet20 (FULL), seed {s}" for s in (0, 1, 2)]


def test_bands_average_replicates_only_and_stay_in_range(mixed):
    runs = list_runs(mixed["root"]).runs
    hist = history_table(runs)
    g = band(hist[hist["split"] == "test"], ["group", "group_label", "epoch"], "accuracy", "95% CI", clip=(0, 1))
    assert g["lo"].min() >= 0 and g["hi"].max() <= 1
    counts = g.groupby("group_label")["count"].max()
    assert counts.max() == 3 and (counts == 3).sum() == 1, counts  # only the three seeds are averaged
    assert hist.groupby("run")["run_id"].nunique().max() == 1, "one line a run: no two runs share a label"
    deg = degradation_table(runs)
    assert set(deg["run_id"]) <= {r.id for r in runs if r.status == "finished"}
    assert mixed["failed"] not in set(deg["run_id"]) and mixed["diverged"] not in set(deg["run_id"])
    assert deg.groupby(["series", "depth"])["dataset"].nunique().max() == 1


def test_runs_json_and_report(mixed, tmp_path):
    r = subprocess.run([sys.executable, "-m", "explorer", "runs", "--root", str(mixed["root"]), "--json"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["runs"]
    assert len(rows) == 9 and len({x["label"] for x in rows}) == 9
    assert all(len(x["condition"]) == 8 for x in rows)
    by_id = {x["run_id"]: x for x in rows}
    assert by_id[mixed["failed"]]["status"] == "failed" and "OverflowError" in by_id[mixed["failed"]]["reason"]
    from explorer.report.main import build
    text = build(mixed["root"], tmp_path / "RESULTS.md", figures=False)
    assert "lr 0.01" in text and "digits" in text


def test_table_is_the_same_from_any_folder(mixed):
    t = runs_table(list_runs(mixed["root"]).runs)
    assert t["status"].value_counts().to_dict() == {"finished": 6, "imported": 1, "diverged": 1, "failed": 1}


@pytest.mark.parametrize("page", ["overview", "runs", "curves", "gradients", "separability", "mechanisms", "train"])
def test_every_page_draws_the_mixed_store(mixed, page, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_ZOO", str(mixed["root"]))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.sidebar.radio(key="pick_mode").set_value("runs by name").run()
    ms = at.sidebar.multiselect(key="pick_runs")
    wanted = [o for o in ms.options if "resnet20-nobn" in o or "digits" in o or "failed" in o]
    ms.set_value(wanted).run()
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    assert not errors, errors


def test_run_ids_cannot_escape_the_store(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "x").write_text("x")
    for bad in [".", "", "..", "../x", "a/b", "/etc", "keep/..", " ", "x" * 500]:
        with pytest.raises(RunError):
            delete_run(tmp_path, bad)
        with pytest.raises(RunError):
            open_run(tmp_path, bad)
    assert (tmp_path / "keep" / "x").exists()


def test_settings_paths_are_absolute_from_any_folder(tmp_path, monkeypatch):
    from explorer import settings
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXPLORER_RUNS", "runs")
    assert settings.own_root() == ROOT / "runs"
    assert settings.zoo_root().is_absolute() and settings.cache_dir().is_absolute()


def test_runs_listing_says_a_reason_only_where_there_is_one(digits_runs, tmp_path, capsys):
    """A diverged run beside finished ones: the diverged one says why, the others say nothing (not 'nan')."""
    from explorer.cli import main
    src = sorted(d for d in digits_runs.iterdir() if (d / "config.json").exists())[:2]
    for d in src:
        shutil.copytree(d, tmp_path / d.name)
    cfg_path = tmp_path / src[0].name / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(status="diverged", message="non-finite training loss at epoch 1, step 2", diverged={"epoch": 1, "step": 2})
    cfg_path.write_text(json.dumps(cfg))
    assert main(["runs", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(non-finite training loss at epoch 1, step 2)" in out
    assert "(nan)" not in out and "(None)" not in out


def test_picker_preselects_the_main_experiment_only(mixed, tmp_path, monkeypatch):
    """CIFAR-10 seeds of one experiment are preselected; a digits run of the same model (another data set and
    recipe) and an imported copy are listed, named in a caption, and not mixed in."""
    from explorer.runs import main_experiment
    runs = list_runs(mixed["root"]).runs
    main = main_experiment([r.record for r in runs if r.status in ("finished", "imported")])
    assert sorted(r.id for r in main) == sorted(p.name for p in _zoo("resnet20") + _zoo("resnet20-nobn"))
    monkeypatch.setenv("EXPLORER_ZOO", str(mixed["root"]))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.sidebar.radio(key="source").set_value("shipped zoo").run()
    ids = at.session_state["selection"].ids
    assert sorted(ids) == sorted(p.name for p in _zoo("resnet20")), ids
    assert any("Not preselected, another experiment" in c.value and "digits" in c.value for c in at.sidebar.caption)
    # schemes and subsets aside, both learning rates of the no-BN net stay in the four-variant comparison
    at.sidebar.toggle(key="compare4").set_value(True).run()
    assert sorted(at.session_state["selection"].ids) == sorted(p.name for p in _zoo("resnet20") + _zoo("resnet20-nobn"))


def test_runs_of_every_kind_are_labelled_together(mixed):
    """A store of zoo runs, an own run and an imported run whose facets differ in kind (only a run with
    another normalisation than its data's has a normalisation facet) is labelled, not a KeyError."""
    import dataclasses
    recs = [r.record for r in list_runs(mixed["root"]).runs]
    imported = next(r for r in recs if r.id == mixed["imported"])
    other = dataclasses.replace(imported, data=dataclasses.replace(imported.data, normalization="cifar10"))
    labels = label_runs([other] + [r for r in recs if r.id != imported.id])
    assert "cifar10 norm" in labels.run[other.id]
    assert len(set(labels.run.values())) == len(labels.run)
