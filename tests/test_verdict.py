"""The verdict: its statistics, its rules on the shipped zoo, BatchNorm's role, and the page."""
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student_t

from explorer.runs import list_runs
from explorer.verdict.batchnorm import findings, norm_free_table
from explorer.verdict.core import build
from explorer.verdict.estimates import Estimate, differs  # noqa: F401 (the table of the earlier runs)

ROOT = Path(__file__).resolve().parents[1]


def test_estimate_is_mean_and_t_interval_over_replicates():
    e = Estimate.of([1.0, 2.0, 3.0, float("nan")])
    assert e.n == 3 and e.mean == 2.0
    assert e.half == pytest.approx(student_t.ppf(0.975, 2) * 1.0 / np.sqrt(3))
    one = Estimate.of([5.0])
    assert one.n == 1 and np.isnan(one.half) and one.text() == "5 (n=1)"
    assert Estimate.of([]).text() == "not measured"
    assert Estimate.of([1.0, 1.0000000000000002, 0.9999999999999999]).text() == "1 ± 0 (95% CI, n=3)"  # rounding noise


def test_differs_needs_two_replicates_and_separated_intervals():
    a, b = Estimate(1.0, 0.1, 3), Estimate(2.0, 0.1, 3)
    assert differs(a, b) == -1 and differs(b, a) == 1
    assert differs(a, Estimate(1.15, 0.1, 3)) == 0
    assert differs(a, Estimate(5.0, float("nan"), 1)) is None


@pytest.fixture(scope="module")
def zoo():
    return list_runs(ROOT / "checkpoints").runs


def test_zoo_verdict_at_20_and_56(zoo):
    """Both predicted contrasts of every row, Welch with Holm over the page, recomputed here independently."""
    from scipy import stats
    from explorer.verdict.measures import train_error
    v = build(zoo, 20, 56)
    assert {k: len(ids) for k, ids in v.runs.items()} == {"plain-20": 3, "residual-20": 3, "plain-56": 3, "residual-56": 3}
    rows = {(r.explanation, r.measure): r for r in v.rows}
    assert all(len(r.contrasts) == 2 and (r.contrasts[0].b, r.contrasts[1].b) == ("plain-20", "residual-56")
               for r in v.rows)
    over = rows[("overfitting", "train error (clean, eval mode), %")]
    p56 = [train_error(r) for r in zoo if r.id in v.runs["plain-56"]]
    p20 = [train_error(r) for r in zoo if r.id in v.runs["plain-20"]]
    c = over.contrasts[0]
    welch = stats.ttest_ind(p56, p20, equal_var=False)
    assert c.stats.diff == pytest.approx(np.mean(p56) - np.mean(p20)) and c.stats.p == pytest.approx(welch.pvalue)
    assert c.predicted == -1 and c.holm_p >= c.stats.p  # overfitting predicts the deep plain net fits better
    explained = [r for r in v.rows if not r.explanation.startswith("degradation")]
    # the family is every planned contrast, one test a (measure, contrast): m fixed in advance
    planned = {(r.measure, x.b) for r in explained for x in r.contrasts}
    tested = [x.stats.p for r in explained for x in r.contrasts if x.stats is not None and not x.stats.thin]
    assert len(planned) == 2 * len(explained) - 2  # the vanishing and exploding rows at init share their test
    assert min(1.0, len(planned) * min(tested)) == pytest.approx(min(x.holm_p for r in explained for x in r.contrasts
                                                                      if x.stats is not None and not x.stats.thin))
    deg = rows[("degradation (the effect to explain)", "test error, %")]  # the premise: Holm over its own two
    p_deg = sorted(x.stats.p for x in deg.contrasts)
    assert min(x.holm_p for x in deg.contrasts) == pytest.approx(min(1.0, 2 * p_deg[0]))
    info = next(r for (e, m), r in rows.items() if e == "lost class information" and "bits" in m)
    assert "not diagnostic" in info.verdict and "CV shuffles" in info.noise  # consistent with, not diagnostic
    init = next(r for (e, m), r in rows.items() if e == "exploding gradients")
    assert init.time.startswith("at initialisation") and init.contrasts[0].stats.log_scale
    assert init.values["plain-56"].n == 20 and init.values["plain-56"].centre > 100
    from explorer.verdict.estimates import STATUS_MEANING
    assert {r.status for r in v.rows} <= set(STATUS_MEANING)
    assert info.status in ("consistent, not diagnostic", "not resolved")  # never "supported": not diagnostic
    frame = v.to_frame()
    assert len(frame) == len(v.rows) and {"plain-56 mean", "plain-56 95% CI low", "plain-56 n", "status", "verdict",
                                          "plain-56 vs plain-20: Holm p", "plain-56 vs residual-56: outcome"} <= set(frame.columns)
    for r in v.rows:  # an interval of a positive ratio never shows a negative value
        for e in r.values.values():
            assert not e.log_scale or not e.n > 1 or e.ci_low > 0


def test_one_replicate_is_called_too_thin(zoo):
    v = build([r for r in zoo if r.seed == 0], 20, 56)  # one seed of each net
    over = next(r for r in v.rows if r.explanation == "overfitting")
    assert over.status == "too thin" and "two replicates" in over.verdict


def test_a_run_that_never_left_chance_did_not_train_and_is_left_out(zoo):
    from explorer.runs import did_not_train
    v = build(zoo, 56, 110)
    (plain110,) = [r for r in zoo if r.spec.depth == 110 and not r.spec.residual]
    assert did_not_train(plain110) and v.untrained == {"plain-110": [plain110.id]} and "plain-110" not in v.runs
    assert not any(did_not_train(r) for r in zoo if r.id in v.runs.get("residual-110", []))
    deg = next(r for r in v.rows if r.explanation.startswith("degradation"))
    assert deg.status == "not measured"  # no plain-110 that trained: no degradation contrast at 110


def test_rows_at_initialisation_are_the_sweep_recomputed_independently(zoo):
    """The sweep's rows: Welch on the log values of the 20 initialisations, read here from the CSV itself."""
    import csv
    from scipy import stats
    v = build(zoo, 20, 56)
    with open(ROOT / "checkpoints" / "studies" / "init_sweep.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["measure"] == "stable_rank" and r["block"] == "-1"
                and r["batchnorm"] == "True"]
    def values(depth, residual):
        return np.log([float(r["value"]) for r in rows if r["depth"] == str(depth) and r["residual"] == str(residual)])
    rank = next(r for r in v.rows if r.explanation == "rank collapse")
    a, b = values(56, False), values(20, False)
    c = rank.contrasts[0]
    assert (c.stats.n_a, c.stats.n_b) == (20, 20)
    assert c.stats.diff == pytest.approx(np.exp(a.mean() - b.mean()))
    assert c.stats.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    vanishing = next(r for r in v.rows if r.explanation == "vanishing gradients" and r.time.startswith("at init"))
    exploding = next(r for r in v.rows if r.explanation == "exploding gradients")
    assert vanishing.contrasts[0].stats.diff == exploding.contrasts[0].stats.diff  # one measure, two predictions
    assert {vanishing.status, exploding.status} == {"ruled out", "supported"}


def test_norm_free_table_compares_with_bn_and_no_bn(tmp_path):
    from explorer.data import load_digits
    from explorer.models import ModelSpec
    from explorer.jobs.runner import start_run
    from explorer.train import TrainConfig
    data = load_digits()
    for bn, scale in [(True, "none"), (False, "none"), (False, "skipinit")]:
        cfg = TrainConfig(epochs=1, batch_size=64, lr=0.05, augment=False, train_eval_size=200)
        start_run(ModelSpec("cifar", 8, True, bn, branch_scale=scale), cfg, "digits", tmp_path, data=data)
    runs = list_runs(tmp_path).runs
    t = norm_free_table(runs)
    assert list(t["net"]) == ["BN", "no BN", "no BN + SkipInit"]
    err = {r.spec.name: 100 * (1 - r.record.final.test_acc) for r in runs}
    closed = t.loc[t["net"] == "no BN + SkipInit", "share of the no-BN gap closed"].iloc[0]
    gap = err["resnet8-nobn"] - err["resnet8"]
    if gap > 0:
        assert closed == pytest.approx((err["resnet8-nobn"] - err["resnet8-nobn-skipinit"]) / gap)
    else:
        assert np.isnan(closed)
    assert norm_free_table([r for r in runs if r.spec.scheme == "none"]).empty

    # The no-BN twin diverged: an outcome the table and the report say, not a missing run.
    import json
    from explorer.report.verdict import verdict_section
    nobn = next(r for r in runs if r.spec.name == "resnet8-nobn")
    cfg = json.loads((nobn.path / "config.json").read_text())
    cfg.update(status="diverged", message="non-finite training loss at epoch 1, step 2", diverged={"epoch": 1, "step": 2})
    (nobn.path / "config.json").write_text(json.dumps(cfg))
    skip = next(r for r in runs if r.spec.name == "resnet8-nobn-skipinit")
    cfg = json.loads((skip.path / "config.json").read_text())
    cfg["final"]["test_acc"] = 0.6  # one epoch may leave it at chance; here it learned
    (skip.path / "config.json").write_text(json.dumps(cfg))
    runs = list_runs(tmp_path).runs
    t = norm_free_table(runs).set_index("net")
    assert t.loc["no BN", "test error %"] == "diverged (n=1)" and t.loc["no BN", "train error %"] == "diverged (n=1)"
    assert np.isnan(t.loc["no BN + SkipInit", "share of the no-BN gap closed"])
    assert t.loc["no BN", "diverged runs"] == 1 and t.loc["no BN + SkipInit", "diverged runs"] == 0
    assert "(n=1)" in t.loc["no BN + SkipInit", "test error %"] and "diverged" not in t.loc["no BN + SkipInit", "test error %"]
    assert any("without BatchNorm the net diverged at this recipe; no BN + SkipInit makes it trainable" in line
               for line in verdict_section(runs))

    # The scheme finished at chance (test accuracy 1/K): not called trained, and it closes nothing.
    cfg = json.loads((skip.path / "config.json").read_text())
    cfg["final"]["test_acc"] = 0.105  # 10 classes: within 2 points of chance
    (skip.path / "config.json").write_text(json.dumps(cfg))
    runs = list_runs(tmp_path).runs
    t = norm_free_table(runs).set_index("net")
    assert t.loc["no BN + SkipInit", "at chance runs"] == 1 and t.loc["BN", "chance test error %"] == 90.0
    (line,) = findings(runs)
    assert "ended at chance" in line and "does not make the net trainable" in line and "trains" not in line
    assert any("ended at chance" in md for md in verdict_section(runs))


def test_verdict_page_renders_for_the_zoo(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("explorer/ui/pages/verdict.py").run()
    errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    assert not errors, errors
    table = at.table[0].value  # a static table, wrapped to the page's width
    assert "overfitting" in set(table["explanation"]) and table["verdict"].str.contains("supported").any()
    assert {"plain-56 vs plain-20", "plain-56 vs residual-56", "time"} <= set(table.columns)
    assert table.notna().all().all() and len(table) == len(table.dropna(how="all"))  # no empty row
    # BatchNorm's fair test: what differs from the papers, and its sweep (in the zoo, or still training beside it)
    text = " ".join(m.value for m in at.markdown)
    from explorer.verdict.fair_batchnorm import DEVIATIONS
    assert all(d in text for d in DEVIATIONS) and "Learning-rate sweep (5 epochs" in text


def test_cli_writes_the_verdict_with_both_contrasts(tmp_path, capsys):
    import pandas as pd
    from explorer.cli import main
    out = tmp_path / "verdict.csv"
    assert main(["verdict", "--root", str(ROOT / "checkpoints"), "--csv", str(out)]) == 0
    t = pd.read_csv(out)
    assert {"plain-56 vs plain-20: Holm p", "plain-56 vs residual-56: outcome", "time", "status"} <= set(t.columns)
    assert (t["time"].str.startswith("at initialisation")).sum() >= 4 and len(t) == len(t.dropna(how="all"))
    assert main(["verdict", "--root", str(ROOT / "checkpoints"), "--csv", str(out), "--shallow", "60"]) == 2
    assert "--shallow must be" in capsys.readouterr().err
