"""The fair BatchNorm study's driver (checkpoints/batchnorm_study.py): its list of runs, and --finish, which
moves the ended study into the zoo only when every run of it can move, and says in one sentence why not."""
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

RATES = {"BN": 0.1, "no BN": 0.02, "no BN + SkipInit": 0.1, "no BN + Fixup": 0.05}


@pytest.fixture
def study(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("batchnorm_study", ROOT / "checkpoints" / "batchnorm_study.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    monkeypatch.setattr(m, "TRAINING", tmp_path / "training")
    monkeypatch.setattr(m, "ZOO", tmp_path / "zoo")
    return m


@dataclass
class FakeRun:
    id: str
    path: Path
    status: str


@pytest.fixture
def ended(study, monkeypatch):
    """Every run of the study ended in checkpoints/.training (the last one diverged); ``calls`` records the
    commands --finish starts, which succeed unless ``fail`` names one."""
    study.TRAINING.mkdir()
    study.ZOO.mkdir()
    runs = {}
    for i, job in enumerate(study.jobs(RATES)):
        path = study.TRAINING / f"run{i:02d}"
        path.mkdir()
        (path / "config.json").write_text("{}")
        runs[job] = FakeRun(path.name, path, "diverged" if i == 20 else "finished")
    monkeypatch.setattr(study, "chosen_lr", lambda net, finishing=False: RATES[net])

    def find(*job):  # where the run is now, as the driver's own find reads the two stores
        r = runs.get(job)
        if r is not None and (study.ZOO / r.id / "config.json").is_file():
            r.path = study.ZOO / r.id
        return None if r is None else (r.path.parent, r)
    monkeypatch.setattr(study, "find", find)
    calls, fail = [], []

    class Done:
        def __init__(self, cmd):
            calls.append(cmd)
            self.returncode = 1 if any(f in cmd for f in fail) else 0
    monkeypatch.setattr(study.subprocess, "run", lambda cmd, **kw: Done(cmd))
    return runs, calls, fail


def test_the_sweep_comes_first_then_seed_by_seed(study):
    jobs = study.jobs(RATES)
    assert len(jobs) == 9 + 12 and all(e == study.SWEEP_EPOCHS and s == 0 for _, _, e, s in jobs[:9])
    assert {(n, lr) for n, lr, _, _ in jobs[:9]} == {(n, lr) for n in RATES if n != "BN" for lr in study.SWEEP_LRS}
    assert [s for *_, s in jobs[9:]] == [0] * 4 + [1] * 4 + [2] * 4  # a partial study holds comparable nets
    assert all(lr == RATES[n] and e == study.EPOCHS for n, lr, e, _ in jobs[9:])


def test_a_sweep_that_has_not_ended_chooses_nothing(study):
    with pytest.raises(SystemExit, match="sweep of no BN has not finished; run this script without --finish first"):
        study.finish()


def test_the_ended_study_joins_the_zoo(study, ended):
    runs, calls, _ = ended
    study.finish()
    assert sorted(p.name for p in study.ZOO.iterdir()) == sorted(r.id for r in runs.values())
    assert not any(study.TRAINING.iterdir())
    ship, report = calls
    assert ship[2:4] == ["explorer", "ship-cache"] and ship[-2:] == ["--root", str(study.ZOO)]
    assert set(ship[4:-3]) == {r.id for r in runs.values() if r.status == "finished"}  # the diverged one has no weights
    assert report[3:] == ["report", "--root", str(study.ZOO)]
    study.finish()  # again: nothing left to move, the analyses and the report redone
    assert len(calls) == 4


@pytest.mark.parametrize("case", ["open", "held", "taken"])
def test_nothing_moves_unless_every_run_can(study, ended, case, monkeypatch):
    runs, calls, _ = ended
    first = next(iter(runs.values()))
    if case == "open":
        first.status = "running"
        match = "1 of the study's 21 runs have not ended"
    elif case == "held":
        (first.path / "lock").write_text(f"{os.getpid()} {socket.gethostname()}")
        match = f"{first.id} is still held by its trainer"
    else:
        (study.ZOO / first.id).mkdir()
        match = f"checkpoints/ has a run folder named {first.id} already"
    with pytest.raises(SystemExit, match=match):
        study.finish()
    assert len(list(study.TRAINING.iterdir())) == 21 and not calls


def test_a_failed_step_is_one_sentence(study, ended):
    _, _, fail = ended
    fail.append("ship-cache")
    with pytest.raises(SystemExit, match=r"^`-m explorer ship-cache` failed .*run --finish again once it is mended\.$"):
        study.finish()
