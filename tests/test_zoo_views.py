"""Every view of every page on the shipped zoo (its analyses and mechanism studies come from the
shipped cache, so nothing heavy is computed): replicates aggregated by condition, one colour per
condition, no error anywhere."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def _errors(at):
    return [e.value for e in at.error] + [str(e.value) for e in at.exception]


@pytest.fixture(scope="module")
def zoo_app(tmp_path_factory):
    import os
    own = tmp_path_factory.mktemp("own")
    old = {k: os.environ.get(k) for k in ("EXPLORER_RUNS", "EXPLORER_ZOO")}
    os.environ["EXPLORER_RUNS"] = str(own)
    os.environ.pop("EXPLORER_ZOO", None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.sidebar.radio(key="source").set_value("shipped zoo").run()
    at.sidebar.select_slider(key="pick_depth_cifar").set_value(56).run()
    at.sidebar.toggle(key="compare4").set_value(True).run()  # resnet56 and resnet56-nores, 3 seeds each
    yield at
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_compare_mode_names_the_variants_that_exist(zoo_app):
    at = zoo_app
    assert any("At depth 56: FULL, Nres. No run of Nbn, Nboth" in c.value for c in at.sidebar.caption)
    assert at.sidebar.toggle(key="pick_residual").disabled and at.sidebar.toggle(key="pick_bn").disabled
    assert len(at.session_state["selection"].ids) == 6


@pytest.mark.parametrize("agg", ["each run", "mean ± 95% CI", "mean ± std"])
def test_curves_views(zoo_app, agg):
    at = zoo_app.switch_page("explorer/ui/pages/curves.py").run()
    at.radio(key="cv_agg").set_value(agg).run()
    at.radio(key="cv_value").set_value("loss").run()
    assert not _errors(at), _errors(at)


@pytest.mark.parametrize("each,stat", [(False, "mean |grad|"), (True, "L2 norm")])
def test_gradient_views(zoo_app, each, stat):
    at = zoo_app.switch_page("explorer/ui/pages/gradients.py").run()
    at.toggle(key="gr_each").set_value(each).run()
    at.radio(key="gr_stat").set_value(stat).run()
    assert not _errors(at), _errors(at)
    late = at.dataframe[0].value
    assert set(late["variant"]) == {"FULL", "Nres"} and late["condition"].nunique() == 2


@pytest.mark.parametrize("agg", ["each run", "mean ± 95% CI"])
def test_separability_views(zoo_app, agg):
    at = zoo_app.switch_page("explorer/ui/pages/separability.py").run()
    at.radio(key="sp_agg").set_value(agg).run()
    assert not _errors(at), _errors(at)
    assert at.dataframe[0].value["condition"].nunique() == 2


@pytest.mark.parametrize("kind", ["lesion", "profile", "signal", "landscape", "shatter"])
def test_mechanism_views(zoo_app, kind):
    at = zoo_app.switch_page("explorer/ui/pages/mechanisms.py").run()
    at.radio(key="mx_kind").set_value(kind).run()
    assert not _errors(at), _errors(at)
    assert not any(b.key in ("mx_go", "mx_bg") for b in at.button), "the zoo's studies ship with it"
    if kind == "landscape":  # shipped for all six runs at the default settings, drawn
        assert len(at.get("plotly_chart")) == 1
        at.radio(key="ls_shape").set_value("surface").run()
        at.radio(key="ls_value").set_value("accuracy").run()
        assert not _errors(at), _errors(at)
        at.select_slider(key="ls_points").set_value(11).run()  # settings nothing was shipped at: offered, not computed
        assert [b.label for b in at.button if b.key == "mx_bg"] == ["Compute the landscape of 6 run(s) in the background"]
        assert not _errors(at), _errors(at)
        at.select_slider(key="ls_points").set_value(21).run()
    if kind == "shatter":
        assert any("Correlation length" in c.value for c in at.caption)


def test_overview_and_runs_views(zoo_app):
    at = zoo_app.switch_page("explorer/ui/pages/overview.py").run()
    assert not _errors(at), _errors(at)
    answer = at.table[0].value  # a static table, every row and column in the page's width
    cifar = answer[answer["depth"].isin([20, 56, 110])]  # the resnet18 runs ship without weights
    assert len(cifar) >= 6 and (cifar["last-stage LDA accuracy %"] != "not analysed yet").all()
    at = at.switch_page("explorer/ui/pages/runs.py").run()
    at.toggle(key="rn_group").set_value(True).run()
    g = at.dataframe[0].value
    assert not _errors(at) and g["replicates"].max() == 3


def test_a_run_that_did_not_train_is_flagged_in_the_degradation_table():
    from explorer.analysis.run_tables import degradation_table
    from explorer.runs import list_runs
    t = degradation_table(list_runs(ROOT / "checkpoints").runs)
    flagged = t[t["did_not_train"]]
    assert len(flagged) >= 1 and (flagged["train_error"] > 85).all()  # at chance: 90% error on 10 classes
    assert not t[~t["did_not_train"]]["train_error"].gt(85).any()
