"""The app, headless: every page renders without an exception on a small digits run store."""
import pytest
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]

from explorer.ui.navigation import PAGES as REGISTERED

PAGES = [p.path for p in REGISTERED]  # every registered page, the Verdict included


@pytest.fixture
def app(digits_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_ZOO", str(digits_runs))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _errors(at):
    return [e.value for e in at.error] + [str(e.value) for e in at.exception]


def _select_depth8(at):
    # the picker's depth slider offers 20..110 for the cifar family; digits runs are resnet8,
    # so pick them by name
    at.sidebar.radio(key="pick_mode").set_value("runs by name").run()
    ms = at.sidebar.multiselect(key="pick_runs")
    ms.set_value(ms.options[:]).run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    _select_depth8(app)
    app.switch_page(page).run()
    assert not _errors(app), _errors(app)


def test_picker_selects_the_right_run(app):
    at = app
    at.sidebar.selectbox(key="pick_family").set_value("cifar").run()
    # the store holds depth 8 only: no slider, the one depth with runs is named
    assert any("Depth: 8" in c.value for c in at.sidebar.caption)
    at.sidebar.toggle(key="pick_residual").set_value(False).run()
    at.sidebar.toggle(key="pick_bn").set_value(True).run()
    ids = at.session_state["selection"].ids
    assert len(ids) == 1 and ids[0].startswith("resnet8-nores-s0")
    at.sidebar.toggle(key="compare4").set_value(True).run()
    ids = at.session_state["selection"].ids
    assert len(ids) == 5  # the four variants, and the second seed of FULL
    assert not _errors(at)


def test_picker_offers_training_when_nothing_matches(app):
    at = app
    at.sidebar.radio(key="source").set_value("own runs").run()  # empty: the usual depths are offered
    at.sidebar.select_slider(key="pick_depth_cifar").set_value(56).run()
    assert at.session_state["selection"].ids == []
    assert any("No run of resnet56" in i.value for i in at.sidebar.info)


@pytest.mark.parametrize("field,value,match", [
    ("tr_seeds", "a, b", "Seeds must be whole numbers"),
    ("tr_seeds", "", "between 1 and 10"),
    ("tr_path", "/nonexistent/data.zip", "does not exist"),
])
def test_train_form_rejects_bad_input(app, field, value, match):
    at = app.switch_page("explorer/ui/pages/train.py").run()
    if field == "tr_path":
        at.radio(key="tr_data").set_value("image folder or .zip")
    at.text_input(key=field).set_value(value)
    next(b for b in at.button if b.label == "Queue training").click().run()  # the form's submit button
    assert any(match in e.value for e in at.error), [e.value for e in at.error]
    assert not at.exception
    from explorer.jobs.queue import list_jobs
    from explorer.settings import own_root
    assert list_jobs(own_root()) == []


def test_separability_csv_holds_the_analysis_table(app, monkeypatch):
    import explorer.ui.common as common
    from explorer.analysis.table import COLUMNS, DEFAULT_METRICS

    captured = {}
    real = common.csv_button
    monkeypatch.setattr(common, "csv_button", lambda df, name, *a, **k: (captured.__setitem__(name, df), real(df, name, *a, **k)))
    at = _select_depth8(app)
    at.switch_page("explorer/ui/pages/separability.py").run()
    assert not _errors(at)
    assert any("nothing is computed until you press" in i.value for i in at.info), "no work before the button"
    at.button(key="sp_go").click().run()
    assert not _errors(at)
    assert not any(b.key == "sp_go" for b in at.button), "the Analyse button stays beside the results it produced"
    df = captured["separability.csv"]
    assert list(df.columns) == COLUMNS + ["condition_text"]  # the whole condition in words, last
    assert len(df) == 5 * 4 * len(DEFAULT_METRICS) and df["n"].eq(500).all()
    shown = at.dataframe[0].value
    assert len(shown) == len(df)
    assert any(h.value == "Linear CKA" for h in at.subheader)


def test_runs_page_rows_become_the_selection(app):
    at = app.switch_page("explorer/ui/pages/runs.py").run()
    assert not _errors(at)
    shown = at.dataframe[0].value
    assert len(shown) == 5 and shown["label"].is_unique
    at.session_state["pending_pick"] = shown["label"].tolist()[:2]  # what the button stores for ticked rows
    at.run()
    assert at.session_state["selection"].ids == shown["run_id"].tolist()[:2]
    at.toggle(key="rn_group").set_value(True).run()
    g = at.dataframe[0].value
    assert g["replicates"].sum() == 5 and (g["replicates"] == 2).sum() == 1  # FULL has seeds 0 and 1


@pytest.mark.parametrize("kind", ["lesion", "profile", "signal"])
def test_mechanisms_page_draws_each_study(app, kind):
    at = _select_depth8(app)
    at.switch_page("explorer/ui/pages/mechanisms.py").run()
    at.radio(key="mx_kind").set_value(kind).run()
    assert any("nothing is computed until you press" in i.value for i in at.info)
    at.button(key="mx_go").click().run()
    assert not _errors(at), _errors(at)
    df = at.dataframe[0].value
    assert df["run_id"].nunique() == 5 and df["label"].nunique() == 5


def test_the_train_form_takes_the_data_sets_recommended_defaults(app):
    """digits: no augmentation, batch 64 (what reaches > 90% in a few epochs); another data set: the CIFAR recipe."""
    at = app
    at.switch_page("explorer/ui/pages/train.py").run()
    at.radio(key="tr_data").set_value("digits (offline, tiny)").run()
    assert at.checkbox(key="tr_augment_0").value is False and at.number_input(key="tr_batch_0").value == 64
    at.radio(key="tr_data").set_value("CIFAR-10 (torchvision)").run()
    assert at.checkbox(key="tr_augment_2").value is True and at.number_input(key="tr_batch_2").value == 128
    assert not _errors(at)


def _color_scales(at) -> dict[str, str]:
    """Label -> colour of every chart's colour scale on the page (from the Vega-Lite specs sent to the browser)."""
    import json
    out = {}

    def walk(node):
        if isinstance(node, dict):
            color = node.get("color") if isinstance(node.get("color"), dict) else None
            scale = (color or {}).get("scale") or {}
            if isinstance(scale.get("domain"), list) and isinstance(scale.get("range"), list):
                out.update(zip(scale["domain"], scale["range"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for el in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart"):
        walk(json.loads(el.proto.spec))
    return out


def test_one_colour_for_a_condition_on_every_page(app):
    """The full model (residual + BN) has one colour on the Overview, Curves, Gradients and Separability."""
    at = _select_depth8(app)
    seen = {}
    for page in ("overview", "curves", "gradients"):
        at.switch_page(f"explorer/ui/pages/{page}.py").run()
        assert not _errors(at), _errors(at)
        seen[page] = _color_scales(at)
    full = {page: next(c for label, c in scales.items() if label.startswith(("resnet8 (FULL)", "residual + BN")))
            for page, scales in seen.items() if scales}
    assert len(full) >= 2 and len(set(full.values())) == 1, (full, seen)
    labels = [label for scales in seen.values() for label in scales]
    assert all(len(label) <= 40 for label in labels), labels
