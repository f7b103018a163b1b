import os
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs two workers) each worker, and every process it starts,
# computes on one thread: two workers with two threads each on a 2-core machine would fight.
# For the same reason they score metrics in-process (tests/test_scoring.py starts scoring workers).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("EXPLORER_WORKERS", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own data cache so tests never see each other's files."""
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    from explorer.data.folder import forget_loaded
    forget_loaded()  # nor the zips an earlier test loaded: each test reads its data as a new process would
    yield


@pytest.fixture
def explorer_cli(capfd):
    """The `explorer` command run in this process (a process of its own costs seconds of imports; a test
    keeps one real process for the exit code): returns (exit code, stdout, stderr). Its stderr is what a
    process would print there: file descriptor 2 (so C-level messages too) and every warning raised; the
    signal handlers the command installs are put back."""
    import signal
    import warnings

    from explorer.cli import main

    def run(*args):
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with warnings.catch_warnings(record=True) as raised:
                warnings.simplefilter("always")
                try:
                    code = main([str(a) for a in args])
                except SystemExit as e:  # argparse's own errors
                    code = e.code
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
        out = capfd.readouterr()
        err = out.err + "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in raised)
        return code, out.out, err
    return run


@pytest.fixture
def cifar_zip():
    if not SHARED_ZIP.exists():
        pytest.skip("../shared/data/cifar10-jpeg.zip is not present")
    return SHARED_ZIP


@pytest.fixture(scope="session")
def digits_runs(tmp_path_factory):
    """Four tiny digits runs (resnet8, the four residual x BatchNorm variants, seed 0) plus a
    second seed of the full model: a run store for analysis and app tests."""
    from explorer.data import load_digits
    from explorer.models import ModelSpec
    from explorer.jobs.runner import start_run
    from explorer.train import TrainConfig

    root = tmp_path_factory.mktemp("runs")
    data = load_digits()
    for residual, bn, seed in [(True, True, 0), (False, True, 0), (True, False, 0), (False, False, 0), (True, True, 1)]:
        cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05 if bn else 0.01, augment=False, train_eval_size=300, seed=seed)
        start_run(ModelSpec("cifar", 8, residual, bn), cfg, "digits", root, data=data)
    return root


FUZZ_COUNTS: dict[str, int] = {}


def count_case(kind: str) -> None:
    FUZZ_COUNTS[kind] = FUZZ_COUNTS.get(kind, 0) + 1


def pytest_sessionfinish(session):
    """A worker hands its fuzz counts to the controller (pytest-xdist's workeroutput)."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["fuzz_counts"] = dict(FUZZ_COUNTS)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown, and unused, without it
def pytest_testnodedown(node, error):
    """The controller adds up what each worker fuzzed."""
    for kind, n in getattr(node, "workeroutput", {}).get("fuzz_counts", {}).items():
        FUZZ_COUNTS[kind] = FUZZ_COUNTS.get(kind, 0) + n


def pytest_terminal_summary(terminalreporter):
    if FUZZ_COUNTS:
        total = sum(FUZZ_COUNTS.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(FUZZ_COUNTS.items()))
        terminalreporter.write_line(f"fuzzed inputs: {total} cases ({parts}); every one ended in a result or one clear error")
