"""BatchNorm's role, tested fairly: train every run of the study, resumably, at low priority.

    nice -n 19 python checkpoints/batchnorm_study.py [--data ZIP] [--commit]

Depth 20 (resnet20), CIFAR-10 minus a 5,000-image validation split (stratified, val seed 0), the
zoo's shared recipe otherwise (batch 128, cosine, 1 warm-up epoch, wd 5e-4, augmentation).

1. **Precision check.** For BN, no BN, no BN + SkipInit and no BN + Fixup at lr 0.1, seed 0: one
   epoch in fp32 and one in bf16 autocast. bf16 is used for the whole study only if, for every
   net, the first epoch's mean training loss agrees within ``TOLERANCE`` nats and no net diverges
   in one precision but not the other; otherwise fp32. The result is written to
   ``checkpoints/.training/precision_check.json`` before any run starts and read on every restart.
2. **Learning-rate sweep** (shorter budget, ``SWEEP_EPOCHS``): no BN, SkipInit and Fixup at
   lr 0.1, 0.05 and 0.02, seed 0; the rate with the lowest final validation error is chosen.
3. **Full budget** (``EPOCHS``): each scheme at its chosen rate and BN at 0.1, seeds 0, 1, 2,
   seed by seed so that a partial study always holds comparable nets.

Every run is trained in ``checkpoints/.training`` by ``python -m explorer train`` and resumed
from its last finished epoch when the script starts again (runs are found by their record, so
nothing but the run store is state). Finished runs stay in ``checkpoints/.training`` (the app and the
report list the zoo only) until the whole study has finished; then they join the zoo with their shipped
analyses: ``--finish`` moves them beside the zoo's runs, ships their analyses and regenerates the report
(nothing committed: the suite checks the page first). With
``--commit`` the script commits the study's folders after every finished run and at most every
``COMMIT_EVERY_S`` seconds otherwise (only those paths: other staged work is left alone).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from explorer.runs import list_runs  # noqa: E402

TRAINING = REPO / "checkpoints" / ".training"
ZOO = REPO / "checkpoints"
CHECK = TRAINING / "precision_check.json"
DEPTH_MODEL = "resnet20"
VAL = 5000
from explorer.verdict.fair_batchnorm import FULL_EPOCHS as EPOCHS, SWEEP_EPOCHS, SWEEP_RATES as SWEEP_LRS  # noqa: E402
SEEDS = (0, 1, 2)
TOLERANCE = 0.05  # nats: first-epoch mean training loss, bf16 vs fp32
COMMIT_EVERY_S = 2400
NETS = {"BN": [], "no BN": ["--no-bn"], "no BN + SkipInit": ["--no-bn", "--branch-scale", "skipinit"],
        "no BN + Fixup": ["--no-bn", "--init", "fixup"]}
MODEL_NAMES = {"BN": "resnet20", "no BN": "resnet20-nobn", "no BN + SkipInit": "resnet20-nobn-skipinit",
               "no BN + Fixup": "resnet20-nobn-fixup"}
RECIPE = ["--batch-size", "128", "--schedule", "cosine", "--warmup-epochs", "1", "--val", str(VAL), "--val-seed", "0",
          "--no-progress"]


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def precision_check(data: str) -> dict:
    """One epoch of each net in fp32 and in bf16 (seed 0, lr 0.1); the decision rule of the module doc."""
    if CHECK.exists():
        return json.loads(CHECK.read_text())
    import torch
    from explorer.data import load_dataset
    from explorer.models import init_model, parse_model_name
    from explorer.train import TrainConfig, train
    ds = load_dataset(data)
    rows = []
    for net, name in MODEL_NAMES.items():
        for bf16 in (False, True):
            cfg = TrainConfig(epochs=1, lr=0.1, batch_size=128, schedule="cosine", warmup_epochs=0.5, val=VAL, seed=0,
                              bf16=bf16, train_eval_size=0)
            t0 = time.perf_counter()
            state = train(init_model(parse_model_name(name), 0), ds, cfg)
            h = state.history[-1] if state.history else {}
            rows.append({"net": net, "bf16": bf16, "status": state.status, "train_loss": h.get("train_loss", math.nan),
                         "val_acc": h.get("val_acc", math.nan), "seconds": round(time.perf_counter() - t0, 1),
                         "threads": torch.get_num_threads()})
            log(f"precision check {net} bf16={bf16}: {rows[-1]}")
    by = {(r["net"], r["bf16"]): r for r in rows}
    diffs = {net: abs(by[(net, True)]["train_loss"] - by[(net, False)]["train_loss"]) for net in NETS}
    same_status = all(by[(n, True)]["status"] == by[(n, False)]["status"] for n in NETS)
    use_bf16 = same_status and all(d <= TOLERANCE for d in diffs.values())
    out = {"rows": rows, "abs_diff_train_loss": diffs, "tolerance_nats": TOLERANCE, "same_status": same_status,
           "bf16": use_bf16, "note": "warm-up of half an epoch so that the one-epoch check sees the peak rate"}
    TRAINING.mkdir(parents=True, exist_ok=True)
    tmp = CHECK.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2))
    os.replace(tmp, CHECK)
    return out


def _runs():
    out = []
    for root in (TRAINING, ZOO):
        if root.exists():
            out += [(root, r) for r in list_runs(root, validate=False).runs]
    return out


def find(net: str, lr: float, epochs: int, seed: int):
    """(root, run) of this job if a run of it exists (finished or not), else None."""
    for root, r in _runs():
        t = r.record.train
        if (t is not None and r.spec.name == MODEL_NAMES[net] and t.val == VAL and t.val_seed == 0 and t.seed == seed
                and math.isclose(t.lr, lr) and t.epochs == epochs and t.batch_size == 128):
            return root, r
    return None


def train_job(net: str, lr: float, epochs: int, seed: int, data: str, bf16: bool, commit) -> str:
    found = find(net, lr, epochs, seed)
    py = [sys.executable, "-m", "explorer", "train"]
    if found and found[1].status == "finished":
        return found[1].id
    if found and found[1].status == "diverged":
        return found[1].id
    if found:
        cmd = py + ["--resume", found[1].id, "--root", str(found[0]), "--data", data, "--no-progress"]
    else:
        cmd = py + ["--model", DEPTH_MODEL, *NETS[net], "--lr", str(lr), "--epochs", str(epochs), "--seeds", str(seed),
                    "--data", data, "--root", str(TRAINING), "--bf16" if bf16 else "--no-bf16", *RECIPE]
    log("run: " + " ".join(cmd[1:]))
    proc = subprocess.Popen(cmd, cwd=REPO)
    while True:
        try:
            proc.wait(timeout=60)
            break
        except subprocess.TimeoutExpired:
            commit(f"BatchNorm study: {net} lr {lr:g} seed {seed} in progress")
    found = find(net, lr, epochs, seed)
    if found is None or found[1].status not in ("finished", "diverged"):
        raise SystemExit(f"{net} lr {lr} seed {seed} did not finish; run this script again to resume it.")
    return found[1].id  # kept in checkpoints/.training until the whole study has finished and its analyses ship


def chosen_lr(net: str, finishing: bool = False) -> float:
    """The sweep's rate of lowest final validation error: the rule the report states, defined once."""
    from explorer.verdict.fair_batchnorm import chosen_rates
    rates = chosen_rates([r for _, r in _runs()])
    if net not in rates:
        raise SystemExit(f"The sweep of {net} has not finished" + ("; run this script without --finish first."
                         if finishing else " (each of its rates ended, finished or diverged, is needed)."))
    return rates[net]


class Committer:
    def __init__(self, on: bool):
        self.on, self.last = on, time.monotonic()

    def __call__(self, msg: str, force: bool = False) -> None:
        if not self.on or (not force and time.monotonic() - self.last < COMMIT_EVERY_S):
            return
        paths = ["checkpoints"]
        for _ in range(30):
            subprocess.run(["git", "add", "-A", "--", *paths], cwd=REPO, capture_output=True)
            r = subprocess.run(["git", "commit", "-q", "-m", msg, "--only", "--", *paths], cwd=REPO, capture_output=True,
                               text=True)
            if r.returncode == 0 or "nothing" in (r.stdout + r.stderr):
                break
            time.sleep(10)  # the index is locked by another git command: try again
        self.last = time.monotonic()


def jobs(rates: dict[str, float]) -> list[tuple[str, float, int, int]]:
    """Every run of the study: (net, lr, epochs, seed), the sweep's first."""
    return ([(net, lr, SWEEP_EPOCHS, 0) for net in NETS if net != "BN" for lr in SWEEP_LRS]
            + [(net, lr, EPOCHS, seed) for seed in SEEDS for net, lr in rates.items()])


def finish() -> None:
    """The whole study ended: its runs join the zoo (moved out of checkpoints/.training), their analyses ship
    (``ship-cache --studies``) and the report is regenerated. Every run is checked before the first moves:
    refused while any has not ended or is still held by a live trainer, or where the zoo has its id already."""
    from explorer.runs.locks import lock_alive
    rates = {net: 0.1 if net == "BN" else chosen_lr(net, finishing=True) for net in NETS}
    found = {j: find(*j) for j in jobs(rates)}
    open_ = [j for j, f in found.items() if f is None or f[1].status not in ("finished", "diverged")]
    if open_:
        raise SystemExit(f"{len(open_)} of the study's {len(found)} runs have not ended (first: {open_[0]}); "
                         "run this script without --finish first.")
    moving = [r for root, r in found.values() if root == TRAINING]
    held = [r.id for r in moving if lock_alive(r.path / "lock")]
    if held:
        raise SystemExit(f"{held[0]} is still held by its trainer; wait until it has exited, then run --finish "
                         "again. Nothing was moved.")
    taken = [r.id for r in moving if os.path.lexists(ZOO / r.id)]
    if taken:
        raise SystemExit(f"checkpoints/ has a run folder named {taken[0]} already; remove or rename it, then run "
                         "--finish again. Nothing was moved.")
    for r in moving:
        (r.path / "lock").unlink(missing_ok=True)  # a stale lock: its trainer has exited (checked above)
        os.replace(r.path, ZOO / r.id)
        log(f"joined the zoo: {r.id}")
    ids = [r.id for _, r in found.values() if r.status == "finished"]
    py = [sys.executable, "-m", "explorer"]
    steps = ([py + ["ship-cache", *ids, "--studies", "--root", str(ZOO)]] if ids else []) + \
        [py + ["report", "--root", str(ZOO)]]
    for cmd in steps:
        if subprocess.run(cmd, cwd=REPO).returncode != 0:
            raise SystemExit(f"`{' '.join(cmd[1:4])}` failed (its message is above); the study's runs are in the zoo "
                             "now: run --finish again once it is mended.")
    log(f"finished: {len(found)} runs in the zoo, {len(ids)} with shipped analyses; the report regenerated")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "cifar10-jpeg.zip"))
    p.add_argument("--commit", action="store_true", help="commit the study's run folders as they progress")
    p.add_argument("--finish", action="store_true", help="the study has finished: its runs join the zoo (see above)")
    a = p.parse_args()
    if a.finish:
        return finish()
    commit = Committer(a.commit)
    check = precision_check(a.data)
    commit("BatchNorm study: bf16 / fp32 precision check", force=True)
    log(f"precision: {'bf16' if check['bf16'] else 'fp32'} ({check['abs_diff_train_loss']})")
    for job in jobs({}):  # the sweep
        rid = train_job(*job, a.data, check["bf16"], commit)
        commit(f"BatchNorm study: sweep run {rid}", force=True)
    rates = {net: 0.1 if net == "BN" else chosen_lr(net) for net in NETS}
    log(f"chosen rates: {rates}")
    for job in jobs(rates)[len(jobs({})):]:
        rid = train_job(*job, a.data, check["bf16"], commit)
        commit(f"BatchNorm study: run {rid}", force=True)
    log("study complete: `python checkpoints/batchnorm_study.py --finish` makes its runs join the zoo")


if __name__ == "__main__":
    main()
