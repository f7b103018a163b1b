"""Hostile run stores: one bad folder is listed as broken with its reason and never takes down the others.

Each case is a copy of a good digits run with one file made hostile; `list_runs`, `runs`, the
report and the app must all go on, in bounded time and memory.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.runs import list_runs
from explorer.analysis.run_tables import runs_table

ROOT = Path(__file__).resolve().parents[1]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _config(p: Path) -> dict:
    return json.loads((p / "config.json").read_text())


def _write(p: Path, name: str, obj) -> None:
    (p / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))


def _set_model(p: Path, **kw) -> None:
    c = _config(p)
    c["model"].update(kw)
    _write(p, "config.json", c)


def _odd_dtype(p: Path) -> None:
    """A safetensors file whose one tensor has a dtype safetensors parses but this torch cannot hold."""
    header = json.dumps({"w": {"dtype": "F8_E8M0", "shape": [1], "data_offsets": [0, 1]}}).encode()
    (p / "weights.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\x00")


def _gradlog(p: Path, epoch) -> None:
    """gradlog.safetensors with its epoch array replaced by ``epoch(old)``."""
    from safetensors.numpy import load, save
    data = (p / "gradlog.safetensors").read_bytes()
    arrays = load(data)
    meta = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    arrays["epoch"] = epoch(arrays["epoch"])
    (p / "gradlog.safetensors").write_bytes(save(arrays, metadata=meta))


def _history_list(p: Path) -> None:
    h = json.loads((p / "history.json").read_text())
    h["epochs"][0]["val_acc"] = []
    _write(p, "history.json", h)


ATTACKS = {
    "history-nested": lambda p: _write(p, "history.json", '{"epochs": ' + _nested(100_000) + "}"),
    "config-nested": lambda p: _write(p, "config.json", '{"model": ' + _nested(100_000) + "}"),
    "history-wrong-type": lambda p: _write(p, "history.json", {"epochs": 5}),
    "config-wrong-type": lambda p: _write(p, "config.json", {**_config(p), "train": {"epochs": "five"}}),
    "huge-classes": lambda p: _set_model(p, num_classes=10**12),
    "huge-depth": lambda p: _set_model(p, depth=1_200_002),
    "weights-to-dev-zero": lambda p: ((p / "weights.safetensors").unlink(), os.symlink("/dev/zero", p / "weights.safetensors")),
    "config-fifo": lambda p: ((p / "config.json").unlink(), os.mkfifo(p / "config.json")),
    "gradlog-truncated": lambda p: (p / "gradlog.safetensors").write_bytes((p / "gradlog.safetensors").read_bytes()[:200]),
    "history-huge": lambda p: _write(p, "history.json", '{"epochs": [' + ",".join(['{"epoch": 1}'] * 600_000) + "]}"),
    "history-list-value": _history_list,
    "weights-odd-dtype": _odd_dtype,
    "gradlog-2d-epoch": lambda p: _gradlog(p, lambda e: e.reshape(-1, 1)),
    "gradlog-inf-epoch": lambda p: _gradlog(p, lambda e: np.full(e.shape, -np.inf)),
}


@pytest.fixture(scope="module")
def hostile(digits_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    good = list_runs(digits_runs).runs[0]
    shutil.copytree(good.path, root / good.id)
    for name, attack in ATTACKS.items():
        shutil.copytree(good.path, root / name)
        attack(root / name)
    return root, good.id


def test_every_hostile_folder_is_broken_with_a_reason(hostile):
    root, good = hostile
    t0 = time.perf_counter()
    listing = list_runs(root)
    assert time.perf_counter() - t0 < 60  # a bound on a hang, not a speed goal
    assert [r.id for r in listing.runs] == [good]
    reasons = {b.id: b.reason for b in listing.broken}
    assert set(reasons) == set(ATTACKS), reasons
    for name, reason in reasons.items():
        assert reason and "Traceback" not in reason and len(reason) < 600, (name, reason)
    assert "nested" in reasons["config-nested"] or "JSON" in reasons["config-nested"]
    assert "regular file" in reasons["config-fifo"]
    assert "link" in reasons["weights-to-dev-zero"] or "regular" in reasons["weights-to-dev-zero"]
    assert "truncated" in reasons["gradlog-truncated"] or "gradient log" in reasons["gradlog-truncated"]
    assert len(runs_table(listing.runs)) == 1


def test_cli_and_report_go_on(hostile, tmp_path):
    root, good = hostile
    r = subprocess.run([sys.executable, "-m", "explorer", "runs", "--root", str(root), "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [x["run_id"] for x in out["runs"]] == [good] and len(out["broken"]) == len(ATTACKS)
    r = subprocess.run([sys.executable, "-m", "explorer", "report", "--root", str(root), "--out", str(tmp_path / "R.md"),
                        "--no-figures"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_app_pages_go_on(hostile, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    root, _ = hostile
    monkeypatch.setenv("EXPLORER_ZOO", str(root))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path / "own"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.sidebar.radio(key="pick_mode").set_value("runs by name").run()
    ms = at.sidebar.multiselect(key="pick_runs")
    ms.set_value(ms.options).run()
    for page in ("overview", "runs", "curves", "gradients", "separability", "mechanisms", "train"):
        at.switch_page(f"explorer/ui/pages/{page}.py").run()
        errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
        assert not errors, (page, errors)


def test_absurd_model_is_refused_before_anything_is_made(tmp_path):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "explorer", "train", "--family", "cifar", "--depth", "600002", "--data",
                        "digits", "--root", str(tmp_path / "runs"), "--no-progress"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("argv", [["--subset", "100", "--batch-size", "128"], ["--seeds", "99999999999999999999"]])
def test_refused_training_leaves_no_folder(tmp_path, argv):
    r = subprocess.run([sys.executable, "-m", "explorer", "train", "--model", "resnet8", "--data", "digits", "--epochs", "1",
                        "--root", str(tmp_path / "runs"), "--no-progress", *argv], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cache_entry_of_the_wrong_shape_is_recomputed(digits_runs, tmp_path, monkeypatch):
    from explorer.analysis.table import analyze_run
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    run = list_runs(digits_runs).runs[0]
    first = analyze_run(run, metrics=["fisher_trace_ratio"])
    (entry,) = (tmp_path / "cache" / "analysis").glob("*.json")
    for bad in ('{"rows": 5}', '{"rows": [{"stage": 1}]}', "[]", '{"rows": [' + _nested(50_000) + "]}"):
        entry.write_text(bad)
        again = analyze_run(run, metrics=["fisher_trace_ratio"])
        assert again["value"].tolist() == first["value"].tolist()
        assert json.loads(entry.read_text())["rows"][0]["metric"] == "fisher_trace_ratio"


def test_long_paths_are_shortened_in_messages(tmp_path):
    from explorer.runs import RunError, open_run
    with pytest.raises(RunError) as e:
        open_run(tmp_path, "x" * 100_000)
    assert len(str(e.value)) < 400


def test_hostile_job_files_are_skipped_and_forged_pids_never_signalled(tmp_path):
    import signal as _signal

    from explorer.jobs import queue as jobs
    from explorer.models import parse_model_name
    from explorer.train import TrainConfig
    root = tmp_path / "runs"
    job = jobs.submit(root, parse_model_name("resnet8"), TrainConfig(epochs=1), [0], "digits")
    d = root / ".jobs"
    os.mkfifo(d / "fifo.json")
    os.symlink("/dev/zero", d / "zero.json")
    forged = json.loads((d / f"{job.id}.json").read_text())
    (d / "elsewhere.json").write_text(json.dumps({**forged, "id": "elsewhere", "root": str(tmp_path / "other")}))
    (d / "nul.json").write_text(json.dumps({**forged, "id": "nul", "root": "/x\u0000"}))  # no path can hold a NUL
    os.symlink("loop", d / "loop")
    (d / "looped.json").write_text(json.dumps({**forged, "id": "looped", "root": str(d / "loop" / "x")}))
    assert [j.id for j in jobs.list_jobs(root)] == [job.id]  # no hang, no memory blow-up, no foreign queue
    jobs.tick(root, 1)  # the queue goes on past them
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (d / f"{job.id}.json").write_text(json.dumps({**forged, "status": "running", "pid": victim.pid}))
        jobs.cancel(root, job.id)
        time.sleep(0.5)
        assert victim.poll() is None, "a process the queue did not start was signalled"
    finally:
        victim.send_signal(_signal.SIGKILL)


def test_damaged_zip_member_and_oversized_image_file_are_data_errors(tmp_path):
    import zipfile

    from explorer.data import DataError, load_dataset
    from helpers import image_tree, write_folder, write_zip
    files = image_tree()
    z = write_zip(tmp_path / "d.zip", files)
    raw = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("train/cat/000.png")
    start = info.header_offset + 30 + len(info.filename) + 10  # inside the member's data
    raw[start] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="damaged|decoded"):
        load_dataset(z, cache_dir=False)
    folder = write_folder(tmp_path / "f", files)
    with open(folder / "train" / "cat" / "000.png", "r+b") as f:
        f.truncate(11 * 1024 * 1024)  # sparse: no disk spent
    with pytest.raises(DataError, match="at most"):
        load_dataset(folder, cache_dir=False)


def test_a_weight_that_overflows_float32_is_refused(tmp_path):
    from safetensors.torch import save_file

    from explorer.importer import ImportRefused, import_file
    from explorer.models import build_model, parse_model_name
    spec = parse_model_name("resnet8")
    state = {k: v.double() if v.is_floating_point() else v for k, v in build_model(spec).state_dict().items()}
    state["fc.weight"][0, 0] = 1e300
    save_file(state, tmp_path / "w.safetensors")
    with pytest.raises(ImportRefused, match="too large"):
        import_file(tmp_path / "w.safetensors", spec, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_bad_progress_file_is_refused_before_anything_is_made(tmp_path):
    r = subprocess.run([sys.executable, "-m", "explorer", "train", "--model", "resnet8", "--data", "digits", "--epochs", "1",
                        "--root", str(tmp_path / "runs"), "--no-progress", "--progress-file", "/proc/self/mem"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "progress-file" in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_data_path_from_a_record_never_walks_the_disk(tmp_path, monkeypatch):
    """A run's record may name any path as its data (a shared run folder is outside input): the folder
    reader walks only the layout's depth, and refuses a tree too large to be an image data set."""
    from explorer.data import DataError, load_dataset
    from explorer.data import folder
    t0 = time.perf_counter()
    with pytest.raises(DataError):
        load_dataset(Path("/"), cache_dir=False)
    assert time.perf_counter() - t0 < 60  # a bound on a hang, not a speed goal
    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    (deep / "img.png").write_bytes(b"x")  # below the layout's depth: never reached
    assert folder._walk(tmp_path) == []
    for i in range(30):
        (tmp_path / f"f{i}").write_bytes(b"")
    monkeypatch.setattr(folder, "MAX_WALK_ENTRIES", 20)
    with pytest.raises(DataError, match="holds more than 20 entries: not an image data set"):
        load_dataset(tmp_path, cache_dir=False)


@pytest.mark.parametrize("pid", ["0", "-1", "99999999999", "x"])
def test_a_forged_run_lock_holds_nothing(tmp_path, pid):
    """A lock naming no process this machine can have (0 and -1 name process groups) is stale, not alive."""
    import socket

    from explorer.runs.locks import lock_alive
    (tmp_path / "lock").write_text(f"{pid} {socket.gethostname()}")
    assert not lock_alive(tmp_path / "lock")
    (tmp_path / "lock").write_text(f"{os.getpid()} {socket.gethostname()}")
    assert lock_alive(tmp_path / "lock")


def test_a_cache_entry_of_any_shape_has_no_key(tmp_path):
    """ship-cache --clean reads every entry's key: a list, or a number where the key's text should be, is no key."""
    from explorer.analysis.cache import entry_key
    (tmp_path / "a.json").write_text("[1, 2]")
    header = json.dumps({"__metadata__": {"key": 5}}).encode()
    (tmp_path / "b.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert entry_key(tmp_path / "a.json") is None and entry_key(tmp_path / "b.safetensors") is None


def test_job_times_and_progress_a_page_can_show():
    """A clock time past what the page can format, or a negative count or fraction, is dropped (the job panel
    and its Cancel buttons draw); a fraction past 1 is 1."""
    from explorer.jobs.job import progress_event, _time
    assert _time(1e20) is None and _time(-5) is None and _time(1.7e9) == 1.7e9
    assert progress_event({"fraction": -0.5, "eta_s": 1e300, "epoch": -1, "loss": 0.5}) == {"loss": 0.5}
    assert progress_event({"fraction": 3, "time": 1.7e9}) == {"fraction": 1.0, "time": 1.7e9}
