"""`train`: one run a seed (or `--resume RUN`), on one process or under torchrun."""
from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Callable

from ..settings import check_data_path, deploy_mode, shorten, torchvision_root, zoo_root
from ..train import SCHEDULES, TrainConfig, recommended_defaults
from ..runs.record import check_bounds
from .common import ArgError, Bar, Stopper, add_model_args, model_spec_from_args


def add_parser(sub):
    t = sub.add_parser("train", help="train one run a seed (or resume one)")
    add_model_args(t)
    t.add_argument("--data", default="digits", help="cifar10, digits, or a folder / .zip path")
    t.add_argument("--data-root", type=Path, default=None, help="torchvision CIFAR-10 root (for --data cifar10)")
    t.add_argument("--download", action="store_true", help="download CIFAR-10 if missing (needs internet)")
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--seeds", type=int, nargs="+", default=[0])
    t.add_argument("--subset", type=int, default=None, help="train on a stratified subset of this many images")
    t.add_argument("--val", type=int, default=None,
                   help="hold out this many training images (stratified) as a validation split, scored every epoch")
    t.add_argument("--val-seed", type=int, default=0, help="the seed that draws the validation split (recorded)")
    t.add_argument("--batch-size", type=int, default=None,
                   help=f"images a step (default {TrainConfig.batch_size}; 64 for digits)")
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--momentum", type=float, default=TrainConfig.momentum)
    t.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    t.add_argument("--schedule", choices=list(SCHEDULES), default=TrainConfig.schedule)
    t.add_argument("--warmup-epochs", type=float, default=0.0)
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop + flip (default on; off for digits, whose 8x8 images it garbles)")
    t.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on CUDA, off on a CPU; --bf16 is fast where the CPU has AMX)")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    t.add_argument("--resume", metavar="RUN", help="continue this run (its own settings)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--progress-file", type=Path, help="also write the latest progress event to this JSON file")
    return t


def config_from_args(a) -> TrainConfig:
    """The flags given, over the data set's recommended defaults (digits: batch 64, no augmentation)."""
    rec = recommended_defaults(a.data)
    given = {k: v for k, v in (("batch_size", a.batch_size), ("augment", a.augment)) if v is not None}
    return TrainConfig(epochs=a.epochs, lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay, schedule=a.schedule,
                       warmup_epochs=a.warmup_epochs, label_smoothing=a.label_smoothing, subset=a.subset,
                       val=a.val, val_seed=a.val_seed, seed=a.seeds[0], device=a.device, bf16=a.bf16, **{**rec, **given}).validate()


def _init_distributed():
    import torch
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    use_cuda = torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group("nccl" if use_cuda else "gloo")


def train_seeds(spec, cfg: TrainConfig, seeds: list[int], source: str, root: Path, *, data_root: Path | None = None,
                download: bool = False, bar: Bar | None = None, should_stop: Callable[[], bool] | None = None,
                on_result: Callable[[int, object, object], None] | None = None) -> int:
    """Train one run a seed; returns 0, or 130 once a run was cancelled. Every config is checked first."""
    from ..data import load_dataset
    from ..models import ModelSpec
    from ..jobs.runner import start_run

    cfgs = [dataclasses.replace(cfg, seed=s).validate() for s in seeds]
    data = load_dataset(source, root=data_root or torchvision_root(), download=download)
    spec = ModelSpec(**{**spec.to_dict(), "num_classes": data.num_classes})
    for c in cfgs:
        if bar is not None:
            bar.reset(f"{spec.name} seed {c.seed}")
        run, result = start_run(spec, c, source, root, data=data, on_progress=bar, should_stop=should_stop)
        if bar is not None:
            bar.close()
        if on_result is not None:
            on_result(c.seed, run, result)
        if result.status == "cancelled":
            return 130
    return 0


def _report(run, result) -> None:
    if run is not None:
        print(f"{run.id}: {result.status} after {result.epoch} epochs"
              + (f" ({result.message})" if result.message else "") + f" -> {shorten(run.path)}")


def _writable_file(path: Path) -> bool:
    """Whether an atomic write of ``path`` can succeed (a temporary file can be made beside it)."""
    import tempfile
    if path.is_dir():
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".probe-", suffix=".tmp"):
            return True
    except OSError:
        return False


def run(a) -> int:
    from ..jobs.runner import progress_file_writer, resume_run

    if a.progress_file is not None and not _writable_file(a.progress_file):
        raise ArgError(f"--progress-file must be a file in a folder you can write to; got {shorten(a.progress_file)}.")
    if deploy_mode():  # on a shared server every data path lies under the allowed roots
        if a.data == "cifar10":
            check_data_path(a.data_root or torchvision_root())
        elif a.data != "digits":
            check_data_path(a.data)
    stopper = Stopper()
    _init_distributed()
    rank = int(os.environ.get("RANK", "0"))
    root = a.root or zoo_root()
    bar = Bar(enabled=not a.no_progress and rank == 0)
    if a.progress_file and rank == 0:
        bar.also = progress_file_writer(a.progress_file)
    if a.resume:
        run_, result = resume_run(root, a.resume, on_progress=bar, should_stop=stopper)
        bar.close()
        if rank == 0:
            _report(run_, result)
        return 0 if result.status != "cancelled" else 130
    if any(s < 0 for s in a.seeds):
        raise ArgError("seeds must be non-negative integers.")
    spec = model_spec_from_args(a)
    check_bounds(spec)  # before the data set is loaded
    cfg = config_from_args(a)
    return train_seeds(spec, cfg, list(dict.fromkeys(a.seeds)), a.data, root, data_root=a.data_root,
                       download=a.download, bar=bar, should_stop=stopper,
                       on_result=lambda seed, r, res: _report(r, res) if rank == 0 else None)
