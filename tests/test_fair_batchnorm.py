"""The fair BatchNorm comparison on runs with known numbers: the sweep's choice, the test and the share closed."""
from dataclasses import dataclass, field

import numpy as np
import pytest

from explorer.models import parse_model_name
from explorer.train import TrainConfig
from explorer.verdict import fair_batchnorm as fb


@dataclass
class _Final:
    test_acc: float


@dataclass
class _Record:
    train: TrainConfig
    final: _Final | None


@dataclass
class FakeRun:
    id: str
    spec: object
    record: _Record
    status: str = "finished"
    hist: list = field(default_factory=list)

    def history(self):
        return self.hist

    @property
    def seed(self):
        return self.record.train.seed


NAMES = {"BN": "resnet20", "no BN": "resnet20-nobn", "no BN + SkipInit": "resnet20-nobn-skipinit",
         "no BN + Fixup": "resnet20-nobn-fixup"}


def _run(net, lr, epochs, seed, test_err=None, val_err=None, status="finished"):
    cfg = TrainConfig(epochs=epochs, lr=lr, seed=seed, val=5000)
    final = None if test_err is None else _Final(1 - test_err / 100)
    hist = [] if val_err is None else [{"val_acc": 1 - val_err / 100}]
    return FakeRun(f"{net}-{lr}-{epochs}-{seed}", parse_model_name(NAMES[net]), _Record(cfg, final), status, hist)


@pytest.fixture
def runs():
    out = []
    for net, errs in (("no BN", {0.1: None, 0.05: 40.0, 0.02: 35.0}), ("no BN + SkipInit", {0.1: 30.0, 0.05: 20.0, 0.02: 25.0}),
                      ("no BN + Fixup", {0.1: 22.0, 0.05: 24.0, 0.02: 26.0})):
        for lr, v in errs.items():
            out.append(_run(net, lr, 5, 0, val_err=v, status="diverged" if v is None else "finished"))
    full = {("BN", 0.1): [8.0, 8.5, 9.0], ("no BN", 0.02): [20.0, 21.0, 22.0],
            ("no BN + SkipInit", 0.05): [14.0, 14.5, 15.0], ("no BN + Fixup", 0.1): [9.0, 9.2, 8.8]}
    for (net, lr), errs in full.items():
        out += [_run(net, lr, 20, s, test_err=e) for s, e in enumerate(errs)]
    out.append(_run("no BN + Fixup", 0.02, 20, 0, test_err=50.0))  # another rate at the full budget: not chosen
    return out


def test_the_sweep_chooses_the_lowest_validation_error(runs):
    assert fb.chosen_rates(runs) == {"no BN": 0.02, "no BN + SkipInit": 0.05, "no BN + Fixup": 0.1}
    sw = fb.sweep(runs)
    assert len(sw) == 9 and np.isinf(sw[(sw["net"] == "no BN") & (sw["lr"] == 0.1)]["val error %"]).all()


def test_each_scheme_is_tested_against_no_bn_and_bn(runs):
    res = {r.net: r for r in fb.compare(runs)}
    assert res["BN"].test.centre == pytest.approx(8.5) and res["BN"].test.n == 3
    skip, fix = res["no BN + SkipInit"], res["no BN + Fixup"]
    assert skip.lr == 0.05 and fix.lr == 0.1 and len(fix.run_ids) == 3  # the 0.02 run at full budget is left out
    assert skip.vs_no_bn.diff == pytest.approx(14.5 - 21.0) and skip.outcome_no_bn == "as predicted"
    assert skip.closed == pytest.approx((21.0 - 14.5) / (21.0 - 8.5))
    lo, hi = skip.closed_ci
    assert lo <= skip.closed <= hi
    assert fix.closed == pytest.approx((21.0 - 9.0) / 12.5)
    table = fb.table(runs)
    assert list(table["net"]) == list(fb.NETS) and table["n"].tolist() == [3, 3, 3, 3]


def test_share_closed_known_values():
    assert fb.share_closed([20, 20], [10, 10], [15, 15]) == 0.5
    assert np.isnan(fb.share_closed([10], [12], [11]))  # no gap to close
    assert fb.bootstrap_share([20, 20, 20], [10, 10, 10], [15, 15, 15]) == (0.5, 0.5)


def test_the_section_says_the_sweep_and_each_test_in_words(runs):
    words = fb.sentences(runs)
    assert words[0].startswith("Learning-rate sweep (5 epochs") and "lr 0.1: diverged" in words[0]
    assert any(w.startswith("no BN + SkipInit at lr 0.05: test error 14.50%") and "as predicted" in w
               and "closes 52% of the no-BN gap" in w for w in words)
    assert fb.sentences([]) == []


def test_the_choice_is_made_before_any_full_run_exists(runs):
    sweep_only = [r for r in runs if r.record.train.epochs == fb.SWEEP_EPOCHS]
    assert fb.chosen_rates(sweep_only) == fb.chosen_rates(runs)
    assert fb.compare(sweep_only) == []  # nothing to compare until the full-budget runs land


def test_no_rate_is_chosen_from_part_of_a_sweep(runs):
    part = [r for r in runs if not (r.spec.name == "resnet20-nobn-skipinit" and r.record.train.lr == 0.02)]
    assert "no BN + SkipInit" not in fb.chosen_rates(part) and fb.chosen_rates(part)["no BN"] == 0.02
    assert "no BN + SkipInit (lr 0.1: 30.0%, lr 0.05: 20.0%; no choice until all 3 rates have finished)" \
        in fb.sentences(part)[0]


def _layers(chart):
    spec = chart.to_dict()
    parts = spec.get("hconcat", [spec])
    return spec, [[(layer, spec["datasets"].get(layer.get("data", {}).get("name"), [])) for layer in p["layer"]]
                  for p in parts]


def test_each_seed_of_the_comparison_is_a_dot_of_its_chart(runs):
    from explorer.charts.fair_batchnorm import study_chart
    seeds = fb.seed_errors(runs)
    assert len(seeds) == 12 and set(seeds["seed"]) == {0, 1, 2}  # the 0.02 Fixup run is no seed of the comparison
    assert sorted(seeds[seeds["net"] == "no BN"]["test error %"].round(6)) == [20.0, 21.0, 22.0]
    spec, (sweep, comparison) = _layers(study_chart(fb.sweep(runs), fb.table(runs), seeds))
    line, points, crosses = sweep
    assert len(points[1]) == 8 and {r["net"] for r in crosses[1]} == {"no BN"}  # the diverged rate: a cross, no value
    assert {r["segment"] for r in line[1] if r["net"] == "no BN"} == {"no BN 0"}  # one segment, up to it
    legend = line[0]["encoding"]["color"]["scale"]["domain"]
    assert legend == list(fb.NETS)  # every net drawn in either part (BN, not swept, is in the comparison)
    from explorer.charts.fair_batchnorm import sweep_chart
    alone = sweep_chart(fb.sweep(runs)).to_dict()["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert alone == ["no BN", "no BN + SkipInit", "no BN + Fixup"]  # the sweep alone: the nets swept
    assert [len(rows) for _, rows in comparison] == [4, 4, 12]  # CI bars, means, seeds


def test_the_charts_mark_what_diverged_and_draw_what_is_there(runs):
    from explorer.charts.fair_batchnorm import study_chart
    for r in runs:  # every seed of SkipInit at its rate diverged; a middle rate of Fixup's sweep too
        if r.spec.scheme == "skipinit" and r.record.train.epochs == 20:
            r.status, r.record.final = "diverged", None
        if r.spec.scheme == "fixup" and r.record.train.epochs == 5 and r.record.train.lr == 0.05:
            r.status, r.hist = "diverged", []
    results, seeds, sweep = fb.table(runs), fb.seed_errors(runs), fb.sweep(runs)
    skip = results.set_index("net").loc["no BN + SkipInit"]
    assert skip["n"] == 0 and skip["diverged"] == 3
    _, (sweep_layers, comparison) = _layers(study_chart(sweep, results, seeds))
    fixup = [r["segment"] for r in sweep_layers[0][1] if r["net"] == "no BN + Fixup"]
    assert sorted(fixup) == ["no BN + Fixup 0", "no BN + Fixup 1"]  # the line breaks at the diverged middle rate
    text = comparison[-1]
    assert text[0]["mark"]["type"] == "text" and [r["label"] for r in text[1]] == ["3 diverged"]
    assert "no BN + SkipInit" not in {r["net"] for r in comparison[1][1]}  # no mean drawn for it
    # one part alone when the other has no row, n = 1 without a CI bar
    spec, (only,) = _layers(study_chart(sweep.iloc[0:0], results, seeds))
    assert "hconcat" not in spec and only[1][0]["mark"]["type"] == "point"
    one = [r for r in runs if not (r.record.train.epochs == 20 and r.record.train.seed > 0)]
    _, (_, comparison) = _layers(study_chart(fb.sweep(one), fb.table(one), fb.seed_errors(one)))
    assert comparison[0][1] == []  # n = 1 a net: no interval drawn
    _, (only,) = _layers(study_chart(sweep, fb.table([]), fb.seed_errors([])))
    assert only[0][0]["mark"]["type"] == "line"


def test_one_seed_a_net_is_said_to_allow_no_test(runs):
    one = [r for r in runs if not (r.record.train.epochs == 20 and r.record.train.seed > 0)]
    text = " ".join(fb.sentences(one))
    assert "nan" not in text and "no test: a net needs 2 seeds at least" in text and "no interval: one seed a net" in text
    assert "Holm-adjusted outcome: as predicted" in " ".join(fb.sentences(runs))
