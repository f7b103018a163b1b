"""The 41 file and process attacks of the audit (issue 29), replayed: how many hold.

    python bench/audit.py            # prints one line an attack and "held: N/41"
    python bench/audit.py NAME ...   # only these attacks

An attack holds when it ends as one clear sentence (exit status 2, "error: ..." and no traceback), a
cache miss, a broken run with its reason, or a stale job or study, within its time limit and memory
bound. Each runs on a fresh copy of a tiny digits run, with the caches in a temporary folder.
tests/test_door.py runs the same list as tests.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

MEMORY_MB = 1500  # a command's peak memory (torch alone is a few hundred MB)
TIMEOUT_S = 240


def make_context(base: Path) -> SimpleNamespace:
    """A run store with one tiny digits run, and the caches under ``base``."""
    from explorer.data import load_digits
    from explorer.jobs.runner import start_run
    from explorer.models import ModelSpec
    from explorer.train import TrainConfig

    os.environ["EXPLORER_CACHE"] = str(base / "cache")
    good = base / "good"
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, augment=False, train_eval_size=200, seed=0)
    run, _ = start_run(ModelSpec("cifar", 8, True, True), cfg, "digits", good, data=load_digits())
    return SimpleNamespace(base=base, good=good, run_id=run.id, n=0)


def copy_run(ctx, rename: bool = False) -> tuple[Path, str]:
    """A fresh store holding a copy of the good run (under another id with ``rename``): (store, run id)."""
    ctx.n += 1
    store = ctx.base / f"store{ctx.n}"
    rid = f"{ctx.run_id}-c{ctx.n}" if rename else ctx.run_id
    shutil.copytree(ctx.good / ctx.run_id, store / rid)
    return store, rid


def _hwm_mb(pid: int) -> float:
    """The child's own peak resident memory (VmHWM of its address space after exec), sampled while it runs.

    Not the rusage of wait4: Linux folds the memory of the process that forked the child (here a test
    worker that may hold 2 GB) into the child's ru_maxrss at exec, which says nothing about the child."""
    try:
        with open(f"/proc/{pid}/status") as f:  # a procfs file: small, regular, never blocks
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def cli(*args, timeout: float = TIMEOUT_S) -> tuple[int, str, float]:
    """``python -m explorer ARGS``: (exit status, stderr, peak memory in MB); a hang is an AssertionError."""
    proc = subprocess.Popen([sys.executable, "-m", "explorer", *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=os.environ.copy())
    deadline, peak = time.time() + timeout, 0.0
    while time.time() < deadline:
        peak = max(peak, _hwm_mb(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            err = proc.stderr.read().decode("utf-8", "replace")
            return os.waitstatus_to_exitcode(status), err, peak
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError(f"`explorer {' '.join(map(str, args))[:80]}` hung for {timeout} s")


def one_sentence(rc: int, err: str, mb: float, *words: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2, f"exit status {rc}: {err[-300:]}"
    assert "Traceback" not in err and lines and lines[-1].startswith("error:"), err[-300:]
    assert mb < MEMORY_MB, f"peak memory {mb:.0f} MB"
    assert any(w in lines[-1] for w in words) if words else True, lines[-1]
    return f"{lines[-1][:110]} ({mb:.0f} MB)"


def _replace(p: Path, how: str) -> None:
    p.unlink(missing_ok=True)
    if how == "fifo":
        os.mkfifo(p)
    else:
        os.symlink("/dev/zero", p)


# ---- readers that bypassed the door ---------------------------------------------------------

def _weights(ctx, name: str, how: str, command: str) -> str:
    store, rid = copy_run(ctx)
    if name == "checkpoint.safetensors":
        (store / rid / "weights.safetensors").unlink()
    _replace(store / rid / name, how)
    if command == "analyze":
        return one_sentence(*cli("analyze", rid, "--root", store, "--csv", ctx.base / "a.csv", "--no-progress"),
                            "regular", "link")
    return one_sentence(*cli("mechanisms", rid, "--root", store, "--kind", "profile"), "regular", "link")


def weights_dev_zero_analyze(ctx):
    return _weights(ctx, "weights.safetensors", "zero", "analyze")


def weights_fifo_analyze(ctx):
    return _weights(ctx, "weights.safetensors", "fifo", "analyze")


def checkpoint_fifo_analyze(ctx):
    return _weights(ctx, "checkpoint.safetensors", "fifo", "analyze")


def weights_fifo_mechanisms(ctx):
    return _weights(ctx, "weights.safetensors", "fifo", "mechanisms")


def checkpoint_fifo_mechanisms(ctx):
    return _weights(ctx, "checkpoint.safetensors", "fifo", "mechanisms")


def _study_log(ctx, how: str) -> str:
    from explorer.jobs import studies
    from explorer.runs import open_run
    from explorer.studies.catalog.landscape import LandscapeSettings

    store, rid = copy_run(ctx)
    run, land = open_run(store, rid), LandscapeSettings(grid=7)
    progress, log = studies._files(run, "landscape", land)
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.write_text(json.dumps({"fraction": 0.5, "what": "1d", "pid": 99_999_999}))
    _replace(log, how)
    t0 = time.perf_counter()
    s = studies.status(run, "landscape", land)
    assert time.perf_counter() - t0 < 5 and s is not None and not s.running and s.error, s
    return f"stopped: {s.error}"


def study_log_dev_zero(ctx):
    return _study_log(ctx, "zero")


def study_log_fifo(ctx):
    return _study_log(ctx, "fifo")


def _job_file(ctx, content: str | None, how: str = "") -> str:
    d = ctx.base / f"jobs{ctx.n}"
    ctx.n += 1
    d.mkdir()
    job = d / "20260101-000000-abcdef.json"
    if how:
        _replace(job, how)
    else:
        job.write_text(content)
    return one_sentence(*cli("worker", job), "job file")


def job_file_list(ctx):
    return _job_file(ctx, "[1,2,3]")


def job_file_empty(ctx):
    return _job_file(ctx, "{}")


def job_file_without_id(ctx):
    return _job_file(ctx, json.dumps({"spec": {}, "train": {}, "seeds": [0], "data": "digits", "root": "/tmp"}))


def job_file_nested(ctx):
    return _job_file(ctx, "[" * 100_000 + "]" * 100_000)


def job_file_fifo(ctx):
    return _job_file(ctx, None, "fifo")


def job_file_dev_zero(ctx):
    return _job_file(ctx, None, "zero")


def cache_entry_of_empty_rows(ctx):
    """60 MB of empty rows under the entry's key: a miss (refused by size before parsing), bounded memory."""
    from explorer.analysis import cache
    from explorer.analysis.inputs import inputs_for
    from explorer.analysis.table import DEFAULT_METRICS, SETTINGS
    from explorer.runs import open_run

    store, rid = copy_run(ctx)
    inp = inputs_for(open_run(store, rid))
    key = {**inp.key("gap"), "metrics": sorted(DEFAULT_METRICS), "settings": SETTINGS.to_dict()}
    path = cache._paths(key, "json")[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write('{"rows": [' + ",".join(["{}"] * 20_000_000) + "]}")
    rc, err, mb = cli("analyze", rid, "--root", store, "--csv", ctx.base / "b.csv", "--no-progress", "--metrics",
                      "fisher_trace_ratio")
    assert rc == 0 and "Traceback" not in err and mb < MEMORY_MB, (rc, err[-300:], mb)
    return f"a miss; recomputed ({mb:.0f} MB)"


# ---- records trusted once they parse ---------------------------------------------------------

def _job(root: Path, status: str, pid, seeds=(0,)) -> str:
    from explorer.jobs import queue
    from explorer.models import ModelSpec
    from explorer.train import TrainConfig

    job = queue.submit(root, ModelSpec("cifar", 8, True, True), TrainConfig(epochs=1, seed=0), list(seeds), "digits")
    raw = json.loads(queue.job_file(root, job.id).read_text())
    raw.update(status=status, pid=pid)
    queue.job_file(root, job.id).write_text(json.dumps(raw))
    return job.id


def _forged_job(ctx, pid) -> str:
    """A 'running' job with a forged pid and a queued one: tick neither raises nor waits on the forgery."""
    from explorer.jobs import queue

    root = ctx.base / f"q{ctx.n}"
    ctx.n += 1
    forged = _job(root, "running", pid)
    time.sleep(0.01)
    queued = _job(root, "queued", None)
    started = []
    real = queue._start
    queue._start = lambda j: started.append(j.id)  # no real worker: which job would start is the question
    try:
        jobs = {j.id: j for j in queue.tick(root, max_running=1)}
    finally:
        queue._start = real
    assert jobs[forged].status == "failed" and started == [queued], (jobs[forged].status, started)
    return f"stale ({jobs[forged].message[:60]}); the queue moved on"


def job_pid_text(ctx):
    return _forged_job(ctx, "abc")


def job_pid_huge(ctx):
    return _forged_job(ctx, 10 ** 30)


def job_pid_float(ctx):
    return _forged_job(ctx, 2.5)


def job_pid_list(ctx):
    return _forged_job(ctx, [1])


def job_pid_one(ctx):
    return _forged_job(ctx, 1)


def job_pid_negative(ctx):
    return _forged_job(ctx, -1)


def job_pid_true(ctx):
    return _forged_job(ctx, True)


def job_pid_own(ctx):
    return _forged_job(ctx, os.getpid())  # a live process, but not this job's worker


def run_name_not_utf8(ctx):
    import pickle
    from explorer.runs import list_runs

    store, rid = copy_run(ctx)
    os.makedirs(os.fsencode(store) + b"/bad\xff\xfename")
    listing = list_runs(store)
    (broken,) = listing.broken
    assert [r.id for r in listing.runs] == [rid] and "UTF-8" in broken.reason
    for r in [*listing.runs, *listing.broken]:
        str(r.path).encode("utf-8")  # what st.cache_data's hashing did with the name
    pickle.dumps(listing)
    from explorer.ui.common import _signature  # the app's cached listing is keyed on it (st.cache_data hashes it)
    repr(_signature(store)).encode("utf-8")
    return f"broken: {broken.id}: {broken.reason[:60]}"


def _mechanism_key(run):
    from explorer.analysis.inputs import inputs_for
    return {**inputs_for(run).key("gap"), "kind": "mechanism-profile", "settings": {}}


def mechanism_rows_garbage(ctx):
    from explorer.analysis import cache
    from explorer.runs import open_run
    from explorer.studies.catalog import study_table as mechanism_table

    store, rid = copy_run(ctx)
    run = open_run(store, rid)
    cache.write_json(_mechanism_key(run), {"rows": [{"x": 1}]})
    assert mechanism_table(run, "profile", cached_only=True) is None
    return "a miss"


def _features(ctx, arrays) -> str:
    from explorer.analysis import cache
    from explorer.analysis.inputs import inputs_for
    from explorer.analysis.table import run_features
    from explorer.runs import open_run

    store, rid = copy_run(ctx)
    run = open_run(store, rid)
    inputs = inputs_for(run)
    probe = inputs.probe
    key = {**inputs.key("gap"), "kind": "features"}
    cache.write_arrays(key, {s: arrays(len(probe.labels)) for s in run.spec.stage_names})
    feats = run_features(inputs)
    assert all(f.shape[0] == len(probe.labels) and f.shape[1] > 1 and np.isfinite(f).all() for f in feats.values())
    again = cache.read_arrays(key, rows=len(probe.labels), min_cols=2)
    assert again is not None and all(a.shape[1] > 1 for a in again.values())
    return "a miss; recomputed and rewritten"


def features_one_column(ctx):
    return _features(ctx, lambda n: np.zeros((n, 1), np.float32))


def features_all_nan(ctx):
    return _features(ctx, lambda n: np.full((n, 16), np.nan, np.float32))


def cache_json_is_a_folder(ctx):
    from explorer.analysis import cache
    from explorer.runs import open_run
    from explorer.studies.catalog import study_table as mechanism_table

    store, rid = copy_run(ctx)
    run = open_run(store, rid)
    path = cache._paths(_mechanism_key(run), "json")[0]
    path.unlink(missing_ok=True)
    path.mkdir(parents=True)
    assert mechanism_table(run, "profile", cached_only=True) is None
    df = mechanism_table(run, "profile")
    assert len(df) > 0
    return "a miss; computed (not cached)"


def cache_arrays_is_a_folder(ctx):
    from explorer.analysis import cache
    from explorer.analysis.inputs import inputs_for
    from explorer.analysis.table import run_features
    from explorer.runs import open_run

    store, rid = copy_run(ctx)
    run = open_run(store, rid)
    inputs = inputs_for(run)
    key = {**inputs.key("gap"), "kind": "features"}
    path = cache._paths(key, "safetensors")[0]
    path.unlink(missing_ok=True)
    path.mkdir(parents=True)
    assert cache.read_arrays(key) is None
    assert len(run_features(inputs)) == len(run.spec.stage_names)
    return "a miss; computed (not cached)"


def _study_pid(ctx, pid) -> str:
    from explorer.jobs import studies
    from explorer.runs import open_run
    from explorer.studies.catalog.landscape import LandscapeSettings

    store, rid = copy_run(ctx)
    run, land = open_run(store, rid), LandscapeSettings(grid=5)
    progress, _ = studies._files(run, "landscape", land)
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.write_text(json.dumps({"fraction": 0.5, "what": "2d", "pid": pid}))
    s = studies.status(run, "landscape", land)
    assert s is not None and not s.running, s
    return f"stale: {s.error[:60]}"


def study_pid_one(ctx):
    return _study_pid(ctx, 1)


def study_pid_negative(ctx):
    return _study_pid(ctx, -1)


def study_pid_true(ctx):
    return _study_pid(ctx, True)


def study_pid_float(ctx):
    return _study_pid(ctx, 2.5)


# ---- data loss, limits, small ones -----------------------------------------------------------

def ship_cache_clean_typo(ctx):
    from explorer.cli import ship_cache

    before = sorted(p.name for p in ship_cache.SHIPPED_CACHE.iterdir()) if ship_cache.SHIPPED_CACHE.is_dir() else []
    rc, err, mb = cli("ship-cache", "--clean", "resnet20-s0-TYPO")
    after = sorted(p.name for p in ship_cache.SHIPPED_CACHE.iterdir()) if ship_cache.SHIPPED_CACHE.is_dir() else []
    assert before == after, f"{len(before) - len(after)} shipped entries removed"
    return one_sentence(rc, err, mb, "nothing was removed")


def ship_cache_clean_named_only(ctx):
    from explorer.analysis import cache
    from explorer.analysis.inputs import inputs_for
    from explorer.cli import ship_cache
    from explorer.runs import open_run

    store, rid = copy_run(ctx)
    run = open_run(store, rid)
    inputs = inputs_for(run)
    shipped = ctx.base / "shipped"
    shipped.mkdir()
    real_ship, real_cache = ship_cache.SHIPPED_CACHE, cache.SHIPPED_CACHE
    ship_cache.SHIPPED_CACHE = cache.SHIPPED_CACHE = shipped
    try:
        mine = {**inputs.key("gap"), "kind": "features"}
        other = {**mine, "weights": "0" * 24}
        cache.write_arrays(mine, {"stage1": np.ones((3, 2), np.float32)}, shipped=True)
        cache.write_arrays(other, {"stage1": np.ones((3, 2), np.float32)}, shipped=True)
        cache.write_json({**other, "kind": "x"}, {"rows": [{"a": 1}]}, shipped=True)
        cache.write_json({**mine, "kind": "mechanism-lesion"}, {"rows": [{"a": 1}]}, shipped=True)
        removed = ship_cache.clean([run], every=False)
        left = len(list(shipped.iterdir()))
    finally:
        ship_cache.SHIPPED_CACHE, cache.SHIPPED_CACHE = real_ship, real_cache
    assert removed == 1 and left == 3, (removed, left)
    return "only the named run's entry removed"


def _fake_studies(ctx, deploy: bool):
    """studies.start with a stand-in child: `python -c sleep -m explorer mechanisms ...` (the same command line)."""
    from explorer.jobs import studies

    os.environ["EXPLORER_CACHE"] = str(ctx.base / f"cache-s{ctx.n}")
    ctx.n += 1
    os.environ["EXPLORER_DEPLOY"] = "1" if deploy else "0"
    real = subprocess.Popen
    children = []

    def popen(cmd, **kw):
        p = real([cmd[0], "-c", "import time; time.sleep(60)", *cmd[1:]], **kw)
        children.append(p)
        return p
    studies.subprocess.Popen = popen
    return studies, children, real


def _end(studies, children, real, ctx) -> None:
    studies.subprocess.Popen = real
    for p in children:
        p.kill()
        p.wait()
    os.environ["EXPLORER_CACHE"] = str(ctx.base / "cache")
    os.environ.pop("EXPLORER_DEPLOY", None)


def studies_under_limits(ctx):
    """One session presses Compute for 8 runs: at most EXPLORER_MAX_STUDIES_SESSION start, the rest wait."""
    from explorer.runs import open_run
    from explorer.settings import max_studies_session
    from explorer.studies.catalog.landscape import LandscapeSettings

    studies, children, real = _fake_studies(ctx, deploy=True)
    try:
        runs = []
        for i in range(8):
            store, rid = copy_run(ctx, rename=True)
            runs.append(open_run(store, rid))
        land = LandscapeSettings(grid=5)
        for r in runs:
            studies.start(r, "landscape", land, owner="s1")
        states = [studies.status(r, "landscape", land) for r in runs]
        waiting = sum(s.what == "waiting" for s in states)
        assert len(children) == max_studies_session() and waiting == 8 - len(children), (len(children), waiting)
        for p in children:  # two end: the next two waiting ones start when the page polls
            p.kill()
            p.wait()
        for r in runs:
            studies.status(r, "landscape", land)
        assert len(children) == 2 * max_studies_session(), len(children)
    finally:
        _end(studies, children, real, ctx)
    return f"{len(children)} started, {waiting} waiting"


def studies_replaced_on_new_settings(ctx):
    """The same run and study, the grid changed 8 times: one process left."""
    from explorer.runs import open_run
    from explorer.studies.catalog.landscape import LandscapeSettings

    studies, children, real = _fake_studies(ctx, deploy=True)
    try:
        store, rid = copy_run(ctx)
        run = open_run(store, rid)
        for grid in range(3, 19, 2):
            studies.start(run, "landscape", LandscapeSettings(grid=grid), owner="s1")
            time.sleep(0.3)  # the stand-in child's command line is there to be checked
        alive = [p for p in children if p.poll() is None]
        live = [g for g in range(3, 19, 2) if studies.status(run, "landscape", LandscapeSettings(grid=g)).running]
        assert len(alive) <= 2 and live == [17], (len(alive), live)
    finally:
        _end(studies, children, real, ctx)
    return f"{len(children)} launched, {len(alive)} alive, the last one running"


def studies_cancel_own_only(ctx):
    from explorer.jobs.job import JobError
    from explorer.runs import open_run
    from explorer.studies.catalog.landscape import LandscapeSettings

    studies, children, real = _fake_studies(ctx, deploy=True)
    try:
        store, rid = copy_run(ctx)
        run, land = open_run(store, rid), LandscapeSettings(grid=7)
        studies.start(run, "landscape", land, owner="alice")
        try:
            studies.cancel(run, "landscape", land, owner="mallory")
            raise AssertionError("another session cancelled the study")
        except JobError as e:
            refused = str(e)
        assert studies.cancel(run, "landscape", land, owner="alice")
        assert not studies.status(run, "landscape", land).running
    finally:
        _end(studies, children, real, ctx)
    return f"refused: {refused[:70]}"


def download_file_url(ctx):
    from explorer.data import DataError
    from explorer.data.download import download_cifar10

    src = ctx.base / "mirror.tar.gz"
    src.write_bytes(b"not the archive")
    try:
        download_cifar10(ctx.base / "dl1", url=src.as_uri())
        raise AssertionError("a damaged archive was accepted")
    except DataError as e:
        assert "md5" in str(e), e
        return str(e)[:100]


def download_partial_restarted(ctx):
    from explorer.data.download import _stream

    src = ctx.base / "mirror2.bin"
    src.write_bytes(bytes(range(256)) * 100)
    part = ctx.base / "copy.part"
    part.write_bytes(b"\xff" * 1000)  # a partial copy of an earlier try
    resumed = _stream(src.as_uri(), part, None, 0.9)
    assert not resumed and part.read_bytes() == src.read_bytes()
    return "file:// sends it whole: written again, intact"


def killed_write_temps_cleaned(ctx):
    from explorer.analysis import cache
    from explorer.settings import cache_dir

    d = cache_dir() / "analysis"
    d.mkdir(parents=True, exist_ok=True)
    stale = d / ".0123.json.abcd.tmp"
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.write_json({"audit": 1}, {"rows": [{"a": 1}]})
    assert not stale.exists()
    return "removed on the next cache write"


def atomic_write_to_a_device(ctx):
    from explorer.atomic import FileRefused, atomic_write_json

    dev = ctx.base / "null"
    os.symlink("/dev/null", dev)
    try:
        atomic_write_json(dev, {"a": 1})
        raise AssertionError("a device was replaced")
    except FileRefused as e:
        assert os.path.islink(dev)
        return str(e)[:100]


ATTACKS = [weights_dev_zero_analyze, weights_fifo_analyze, checkpoint_fifo_analyze, weights_fifo_mechanisms,
           checkpoint_fifo_mechanisms, study_log_dev_zero, study_log_fifo, job_file_list, job_file_empty,
           job_file_without_id, job_file_nested, job_file_fifo, job_file_dev_zero, cache_entry_of_empty_rows,
           job_pid_text, job_pid_huge, job_pid_float, job_pid_list, job_pid_one, job_pid_negative, job_pid_true,
           job_pid_own, run_name_not_utf8, mechanism_rows_garbage, features_one_column, features_all_nan,
           cache_json_is_a_folder, cache_arrays_is_a_folder, study_pid_one, study_pid_negative, study_pid_true,
           study_pid_float, ship_cache_clean_typo, ship_cache_clean_named_only, studies_under_limits,
           studies_replaced_on_new_settings, studies_cancel_own_only, download_file_url, download_partial_restarted,
           killed_write_temps_cleaned, atomic_write_to_a_device]


def main(names: list[str]) -> int:
    chosen = [a for a in ATTACKS if not names or a.__name__ in names]
    with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
        ctx = make_context(Path(tmp))
        held = 0
        for attack in chosen:
            t0 = time.perf_counter()
            try:
                detail, ok = attack(ctx), True
            except Exception as e:  # noqa: BLE001 - an attack that is not held, reported
                detail, ok = f"{type(e).__name__}: {str(e)[:200]}", False
            held += ok
            print(f"{'held' if ok else 'FAIL'}  {attack.__name__:<34} {time.perf_counter() - t0:5.1f} s  {detail}", flush=True)
        print(f"held: {held}/{len(chosen)}")
        return 0 if held == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
