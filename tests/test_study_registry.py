"""A study is one file plus one registry line: a toy study registered here appears in the CLI's --kind
choices, its flags, the cache, the Mechanisms page and the report, with no other change."""
import importlib
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.runs import list_runs
from explorer.studies.catalog import REGISTRY, StudyError, register, study_table, unregister

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def toy():
    mod = importlib.import_module("toy_study")
    register(mod.STUDY)  # the one registry line
    yield mod
    unregister("toy")


def test_the_cli_accepts_exactly_the_registered_kinds(toy, digits_runs, tmp_path, monkeypatch):
    from explorer.cli import main
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    out = tmp_path / "toy.csv"
    assert main(["mechanisms", run.id, "--root", str(digits_runs), "--kind", "toy", "--toy-scale", "3",
                 "--csv", str(out)]) == 0
    assert out.read_text().count("\n") == 1 + 10  # a header and one row a class
    with pytest.raises(SystemExit) as e:  # not registered: refused by the parser, one line
        main(["mechanisms", run.id, "--root", str(digits_runs), "--kind", "nonesuch"])
    assert e.value.code == 2


def test_the_cache_keys_the_toy_settings(toy, digits_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    assert study_table(run, "toy", cached_only=True) is None
    a = study_table(run, "toy")
    assert study_table(run, "toy", cached_only=True) is not None  # now cached
    b = study_table(run, "toy", toy.ToySettings(scale=4))
    assert b["value"].to_numpy() == pytest.approx(2 * a["value"].to_numpy())  # another entry, other values
    with pytest.raises(StudyError, match="scale"):
        toy.ToySettings(scale=0)


def test_the_page_and_the_report_show_the_toy_study(toy, digits_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_ZOO", str(digits_runs))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.sidebar.radio(key="pick_mode").set_value("runs by name").run()
    ms = at.sidebar.multiselect(key="pick_runs")
    ms.set_value(ms.options[:1]).run()
    at.switch_page("explorer/ui/pages/mechanisms.py").run()
    radio = at.radio(key="mx_kind")
    assert "toy" in radio.options or "toy study" in radio.options
    radio.set_value("toy").run()
    assert any("mean absolute logit" in c.value for c in at.caption)
    at.button(key="mx_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("value" in df.value.columns for df in at.dataframe)

    from explorer.report import mechanisms as report
    monkeypatch.setattr(report, "DEPTHS", (8,))
    runs = list_runs(digits_runs).runs
    for r in runs:  # cached for every run (the report computes nothing)
        study_table(r, "toy")
    md = report.section(runs, tmp_path, False, lambda c, p: None)
    assert "### toy" in md and any("toy values" in line for line in md)
    assert list(REGISTRY)[:5] == ["lesion", "profile", "signal", "landscape", "shatter"]
