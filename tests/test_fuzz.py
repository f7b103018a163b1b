"""Property-based tests: every fuzzed input ends in a valid result or one clear error, never a
crash, a hang or a partial write. The number of cases is printed in the test summary."""
import json
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import count_case
from explorer import cli
from explorer.data import DataError, load_folder
from explorer.runs import Run, RunError, list_runs, open_run, validate_run
from explorer.analysis.run_tables import runs_table
from explorer.separability import METRICS, score
from helpers import png_bytes

# derandomize: CI explores the same cases on every run (no flaky failures); database=None: nothing written
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)

# ----------------------------------------------------------------------------- CLI arguments
FLAG_VALUES = {
    "--model": ["resnet8", "resnet20", "resnet19", "vgg", "", "resnet50-nores", "cifar-resnet14"],
    "--family": ["resnet", "cifar", "x"], "--depth": ["8", "19", "-2", "abc", "18"],
    "--epochs": ["0", "-1", "1", "x", "1e9"], "--batch-size": ["0", "1", "64", "1000000", "-5", "nan"],
    "--lr": ["0", "-0.1", "nan", "inf", "0.05", "1e308"], "--subset": ["0", "-3", "100", "999999", "a"],
    "--seeds": ["0", "-1", "x"], "--data": ["digits", "/nonexistent", "", "cifar10"],
    "--schedule": ["cosine", "linear"], "--device": ["cpu", "tpu", "cuda"], "--warmup-epochs": ["-1", "0", "99"],
}
BARE = ["--no-residual", "--no-bn", "--no-augment", "--bogus"]


@FAST
@given(flags=st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.integers(0, 6), max_size=6),
       bare=st.lists(st.sampled_from(BARE), max_size=2, unique=True))
def test_cli_train_arguments(flags, bare, tmp_path_factory, capsys, monkeypatch):
    count_case("cli")
    root = tmp_path_factory.mktemp("cli")
    argv = ["train", "--root", str(root), "--no-progress"] + bare
    for k, i in flags.items():
        vals = FLAG_VALUES[k]
        argv += [k, vals[i % len(vals)]]
    started = []
    import explorer.jobs.runner as runner
    monkeypatch.setattr(runner, "start_run", lambda *a, **k: (started.append(a), (None, runner.TrainResult("finished", 0)))[1])
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse: unknown flag or a value of the wrong type
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc in (0, 2), (argv, rc, err)
    if rc == 2:
        assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not any(p for p in root.rglob("*") if p.is_file()), "nothing may be written for rejected input"


# ----------------------------------------------------------------------------- run config files
@pytest.fixture(scope="module")
def one_run(digits_runs):
    return list_runs(digits_runs).runs[0]


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False), st.text(max_size=8),
                        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@FAST
@given(drop=st.lists(st.sampled_from(["model", "train", "data", "status", "epochs_done", "final", "probe_hash"]), max_size=3),
       retype=st.dictionaries(st.sampled_from(["model", "train", "status", "epochs_done", "final", "data"]), JSON_VALUES, max_size=2),
       nested=st.dictionaries(st.sampled_from(["depth", "family", "residual", "batchnorm", "num_classes", "shortcut", "extra"]),
                              JSON_VALUES, max_size=2),
       extra=st.dictionaries(st.text(min_size=1, max_size=6), JSON_VALUES, max_size=2))
def test_run_config_files(one_run, tmp_path_factory, drop, retype, nested, extra):
    count_case("config.json")
    root = tmp_path_factory.mktemp("cfg")
    dst = root / one_run.id
    shutil.copytree(one_run.path, dst)
    cfg = json.loads((dst / "config.json").read_text())
    for k in drop:
        cfg.pop(k, None)
    cfg.update(retype)
    if isinstance(cfg.get("model"), dict):
        cfg["model"].update(nested)
    cfg.update({k: v for k, v in extra.items() if k not in ("id",)})
    (dst / "config.json").write_text(json.dumps(cfg))
    listing = list_runs(root)  # never raises
    (item,) = [*listing.runs, *listing.broken]
    if isinstance(item, Run):
        validate_run(item)
        runs_table([item])
    else:
        assert isinstance(item.reason, str) and item.reason
    try:
        open_run(root, one_run.id, validate=True).load_model()
    except RunError as e:
        assert str(e)


# ----------------------------------------------------------------------------- data folders and zips
KINDS = ["png", "jpg", "gray", "rgba", "zero", "truncated", "text", "big", "small"]


def _content(kind: str, seed: int) -> bytes:
    return {"png": lambda: png_bytes(seed), "jpg": lambda: png_bytes(seed, fmt="JPEG"), "gray": lambda: png_bytes(seed, mode="L"),
            "rgba": lambda: png_bytes(seed, mode="RGBA"), "zero": lambda: b"", "truncated": lambda: png_bytes(seed)[:40],
            "text": lambda: b"hello", "big": lambda: png_bytes(seed, (64, 64)), "small": lambda: png_bytes(seed, (8, 8))}[kind]()


NAMES = st.text(alphabet=st.characters(categories=["L", "N"], max_codepoint=0x4FFF), min_size=1, max_size=6)


@FAST
@given(classes=st.lists(NAMES, min_size=0, max_size=3, unique=True),
       files=st.lists(st.tuples(st.sampled_from(["train", "test"]), st.integers(0, 2), st.sampled_from(KINDS),
                                st.sampled_from([".png", ".jpg", ".txt", ""])), max_size=10),
       as_zip=st.booleans())
def test_data_folders_and_zips(tmp_path_factory, classes, files, as_zip):
    count_case("data")
    base = tmp_path_factory.mktemp("data")
    tree = {}
    for i, (split, ci, kind, ext) in enumerate(files):
        if classes:
            tree[f"{split}/{classes[ci % len(classes)]}/{i}{ext}"] = _content(kind, i)
    for c in classes:  # empty class folders are possible in a folder, not in a zip
        (base / "f" / "train" / c).mkdir(parents=True, exist_ok=True)
    for rel, data in tree.items():
        p = base / "f" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    src = base / "f"
    if as_zip:
        src = base / "f.zip"
        with zipfile.ZipFile(src, "w") as z:
            for rel, data in tree.items():
                z.writestr(rel, data)
    cache = base / "cache"
    try:
        ds = load_folder(src, cache)
        assert ds.train_x.shape[1:] == (3, 32, 32) and len(ds.train_x) == len(ds.train_y) and ds.num_classes >= 2
    except DataError as e:
        assert str(e) and "\n" not in str(e)
    leftovers = list(cache.rglob("*.tmp")) if cache.exists() else []
    assert not leftovers


# ----------------------------------------------------------------------------- separability functions
SPECIAL = st.sampled_from([0.0, 1.0, -1.0, 1e-30, 1e30, np.nan, np.inf, -np.inf])


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(n_per=st.integers(1, 6), k=st.integers(1, 4), d=st.integers(1, 6), fill=st.one_of(st.none(), SPECIAL),
       poke=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 10), SPECIAL), max_size=3),
       metric=st.sampled_from(sorted(METRICS)), seed=st.integers(0, 3))
def test_separability_functions(n_per, k, d, fill, poke, metric, seed):
    count_case("separability")
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    X = rng.standard_normal((len(y), d)) if fill is None else np.full((len(y), d), fill)
    for i, j, v in poke:
        X[i % len(y), j % d] = v
    try:
        value, reason = score(metric, X, y)
    except ValueError as e:  # caller errors: fewer than 2 classes or a class with one sample
        assert k < 2 or n_per < 2, (metric, k, n_per, str(e))
        assert str(e)
        return
    assert isinstance(value, float) and isinstance(reason, str)
    if not np.isfinite(X).all():
        assert np.isnan(value) and reason
