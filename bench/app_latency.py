"""How long the app's pages take, cold and warm, against one probe-set forward pass.

    python bench/app_latency.py [--repeats 3] [--quick] [--only own-r56,own-digits]

Drives the app headless (Streamlit's AppTest, in this process) through the standard selections:

  zoo-r20      shipped zoo, resnet20 x 3 seeds
  zoo-r56      shipped zoo, resnet56 vs resnet56-nores x 3 seeds (gap and flat)
  zoo-r20x4    shipped zoo, every residual x BatchNorm variant of resnet20
  own-digits   own runs on digits (resnet20 and resnet20-nores x 2 seeds, trained here first)
  own-r56      the zoo-r56 runs as own runs: copied to the own store, the shipped cache switched off,
               so every analysis is computed (what a user's own CIFAR-10 runs cost)

For each selection and page: *cold* = the selection made, then every cache emptied (the user's
analysis cache on disk, Streamlit's caches, the in-process ones, the decoded data set kept in memory included; not its copy on disk, a
one-time cost per machine, timed and printed apart), then the page opened (and its
"Analyse" button pressed where it shows one); *warm* = the same page opened again. *forward* =
one probe-set forward pass (gap features, eval mode) through every selected model, timed right
before each cold open (this shared machine's speed drifts by a third within minutes). Printed:
medians over the repeats of forward, cold and warm, the median of the repeats' cold / forward, and
each repeat's cold / forward (the spread).

Targets (issue 13): zoo cold <= 1x forward; own runs cold <= 2x (gap), <= 3x (flat); warm <= 1 s.
The Mechanisms page is timed for the zoo only (its studies ship); for own runs it computes only
on "Study" (see bench/mechanisms_speed.py).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = {"overview": "overview", "curves": "curves", "gradients": "gradients", "separability": "separability",
         "mechanisms": "mechanisms"}


def _clear_caches(cache_dir: Path) -> None:
    import streamlit as st

    from explorer import separability
    from explorer.analysis import inputs as probes
    from explorer.data.folder import forget_loaded
    shutil.rmtree(cache_dir / "analysis", ignore_errors=True)  # the decoded data set stays on disk (a one-time cost)
    forget_loaded()  # but not in this process's memory: a cold open reads it from the disk cache again
    st.cache_data.clear()
    st.cache_resource.clear()
    probes.forget()
    separability._FOLD_CACHE.clear()


def _app(source: str, depth: int, compare: bool):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()
    at.sidebar.radio(key="source").set_value(source).run()
    if any(w.key == "pick_depth_cifar" for w in at.sidebar.select_slider):  # no slider where one depth has runs
        at.sidebar.select_slider(key="pick_depth_cifar").set_value(depth).run()
    if compare:
        at.sidebar.toggle(key="compare4").set_value(True).run()
    return at


def _errors(at) -> list[str]:
    return [e.value for e in at.error] + [str(e.value) for e in at.exception]


def _open(at, page: str, reduction: str) -> float:
    """Seconds to open ``page`` (and press its Analyse button if it shows one)."""
    t0 = time.perf_counter()
    at.switch_page(f"explorer/ui/pages/{page}.py").run()
    if page == "separability":
        if at.radio(key="sp_red").value != reduction:
            at.radio(key="sp_red").set_value(reduction).run()
        go = [b for b in at.button if b.key == "sp_go"]
        if go:
            go[0].click().run()
    dt = time.perf_counter() - t0
    if _errors(at):
        raise RuntimeError(f"{page}: {_errors(at)[:2]}")
    return dt


def forward_time(run_ids: list[str], roots: list[Path]) -> float:
    """One probe-set forward pass (gap features) through each selected model, summed."""
    import torch

    from explorer.analysis.inputs import inputs_for
    from explorer.analysis.features import extract
    from explorer.runs import open_run
    total = 0.0
    for rid in run_ids:
        run = next(open_run(r, rid) for r in roots if (r / rid).is_dir())
        inputs = inputs_for(run)
        probe, mean, std = inputs.probe, inputs.mean, inputs.std
        model = run.load_model()
        t0 = time.perf_counter()
        with torch.no_grad():
            extract(model, probe.images, mean, std, reduction="gap")
        total += time.perf_counter() - t0
    return total


def train_digits(own: Path) -> None:
    from explorer.cli import main
    for extra in ([], ["--no-residual"]):
        main(["train", "--data", "digits", "--model", "resnet20", *extra, "--seeds", "0", "1", "--epochs", "3",
              "--root", str(own), "--no-progress"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one selection a kind (a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated name prefixes of the selections to time (default: all)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="app_latency_"))
    own, cache_dir = tmp / "own", tmp / "cache"
    os.environ.update(EXPLORER_RUNS=str(own), EXPLORER_CACHE=str(cache_dir))
    os.environ.pop("EXPLORER_ZOO", None)
    from explorer.analysis import cache
    from explorer.settings import zoo_root
    zoo = zoo_root()
    from explorer.settings import SHARED_CIFAR_ZIP
    if SHARED_CIFAR_ZIP.exists():
        from explorer.data import load_dataset
        t0 = time.perf_counter()
        load_dataset(str(SHARED_CIFAR_ZIP))
        print(f"one-time decode of {SHARED_CIFAR_ZIP.name} into the empty cache: {time.perf_counter() - t0:.1f} s")
    else:
        print("no CIFAR-10 on this machine: zoo runs are analysed on the shipped probe set (a fresh clone)")
    shipped = cache.SHIPPED_CACHE
    zoo_pages = ["overview", "curves", "gradients", "separability", "mechanisms"]
    own_pages = ["overview", "curves", "gradients", "separability"]
    selections = [  # name, source, depth, compare, reduction, pages, own root, shipped cache on
        ("zoo-r20", "shipped zoo", 20, False, "gap", zoo_pages, None, True),
        ("zoo-r56 gap", "shipped zoo", 56, True, "gap", zoo_pages, None, True),
        ("zoo-r56 flat", "shipped zoo", 56, True, "flat", ["separability"], None, True),
        ("zoo-r20x4", "shipped zoo", 20, True, "gap", zoo_pages, None, True),
        ("own-digits gap", "own runs", 20, True, "gap", own_pages, own / "digits", True),
        ("own-digits flat", "own runs", 20, True, "flat", ["separability"], own / "digits", True),
        ("own-r56 gap", "own runs", 56, True, "gap", own_pages, own / "r56", False),
        ("own-r56 flat", "own runs", 56, True, "flat", ["separability"], own / "r56", False),
    ]
    if a.quick:
        selections = [selections[1], selections[4], selections[6]]
    if a.only:
        prefixes = [p.strip() for p in a.only.split(",") if p.strip()]
        selections = [s for s in selections if s[0].startswith(tuple(prefixes))]
        if not selections:
            ap.error(f"--only {a.only!r} names no selection; the selections are zoo-r20, zoo-r56, zoo-r20x4, "
                     "own-digits, own-r56")
    if any(s[0].startswith("own-digits") for s in selections):
        train_digits(own / "digits")
    (own / "r56").mkdir(parents=True, exist_ok=True)
    from explorer.runs import list_runs
    for r in list_runs(zoo).runs:  # the full-data seeds of the resnet56 comparison
        if r.spec.name in ("resnet56", "resnet56-nores") and r.train_config.subset is None:
            shutil.copytree(r.path, own / "r56" / r.id, dirs_exist_ok=True)
    print(f"{'selection':<16} {'page':<13} {'runs':>4} {'forward s':>9} {'cold s':>7} {'warm s':>7} {'cold/fwd':>8} {'each repeat':>11}")
    for name, source, depth, compare, reduction, pages, own_root, use_shipped in selections:
        if own_root is not None:
            os.environ["EXPLORER_RUNS"] = str(own_root)
        cache.SHIPPED_CACHE = shipped if use_shipped else tmp / "no-shipped-cache"
        at = _app(source, depth, compare)  # one session a selection; every cache is emptied before each cold open
        ids = list(at.session_state["selected_ids"])
        roots = [zoo, Path(os.environ["EXPLORER_RUNS"])]
        for page in pages:
            fwds, colds, warms = [], [], []
            for _ in range(a.repeats):  # a forward pass right before each cold open: the machine's speed drifts
                fwds.append(forward_time(ids, roots))
                _clear_caches(cache_dir)
                colds.append(_open(at, page, reduction))
                warms.append(_open(at, page, reduction))
            fwd, cold, warm = statistics.median(fwds), statistics.median(colds), statistics.median(warms)
            ratios = [c / f for c, f in zip(colds, fwds)]
            each = " ".join(f"{r:.2f}" for r in ratios)  # the spread: this shared machine's speed drifts
            print(f"{name:<16} {page:<13} {len(ids):>4} {fwd:>9.2f} {cold:>7.2f} {warm:>7.2f} "
                  f"{statistics.median(ratios):>8.2f}   {each}", flush=True)
    print(f"medians of {a.repeats}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
