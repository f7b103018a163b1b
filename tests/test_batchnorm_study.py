"""The fair BatchNorm study's driver (checkpoints/batchnorm_study.py): its list of runs and its refusal to
move a study that has not ended into the zoo."""
import importlib.util

import pytest

from conftest import ROOT


@pytest.fixture
def study(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("batchnorm_study", ROOT / "checkpoints" / "batchnorm_study.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    monkeypatch.setattr(m, "TRAINING", tmp_path / "training")
    monkeypatch.setattr(m, "ZOO", tmp_path / "zoo")
    return m


def test_the_sweep_comes_first_then_seed_by_seed(study):
    rates = {"BN": 0.1, "no BN": 0.02, "no BN + SkipInit": 0.1, "no BN + Fixup": 0.05}
    jobs = study.jobs(rates)
    assert len(jobs) == 9 + 12 and all(e == study.SWEEP_EPOCHS and s == 0 for _, _, e, s in jobs[:9])
    assert {(n, lr) for n, lr, _, _ in jobs[:9]} == {(n, lr) for n in rates if n != "BN" for lr in study.SWEEP_LRS}
    assert [s for *_, s in jobs[9:]] == [0] * 4 + [1] * 4 + [2] * 4  # a partial study holds comparable nets
    assert all(lr == rates[n] and e == study.EPOCHS for n, lr, e, _ in jobs[9:])


def test_a_study_that_has_not_ended_does_not_join_the_zoo(study, tmp_path):
    with pytest.raises(SystemExit, match="has not finished; run this script without --finish first"):
        study.finish()
    assert not (tmp_path / "zoo").exists()
