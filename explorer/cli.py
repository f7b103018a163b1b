"""`python -m explorer train|runs|analyze|report|import|download-cifar10`.

Bad input gets one line on stderr saying what was expected, and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from .models import parse_model_name
from .runs import DEFAULT_ROOT
from .train import TrainConfig

# Every error of ours is a ValueError subclass (DataError, ModelSpecError, RunError, ConfigError,
# AnalysisError); an OSError (a folder that cannot be written, say) is reported the same way.
USER_ERRORS = (ValueError, OSError)


class ArgError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        print(f"error: {message} (see `python -m explorer {self.prog.split()[-1]} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _add_model_args(p):
    p.add_argument("--model", help="resnet18/34/50/101/152 or resnet20/32/44/56/110/... (cifar family)")
    p.add_argument("--family", choices=["resnet", "cifar"], help="explicit family, with --depth")
    p.add_argument("--depth", type=int, help="depth, with --family (cifar: 6n+2)")
    p.add_argument("--no-residual", action="store_true", help="plain net: no shortcut connections")
    p.add_argument("--no-bn", action="store_true", help="no BatchNorm layers")
    p.add_argument("--shortcut", choices=["A", "B"], default=None, help="cifar family shortcut option")


def model_spec_from_args(a, num_classes: int = 10):
    from .models import ModelSpec
    if a.model and (a.family or a.depth):
        raise ArgError("give either --model or --family with --depth, not both.")
    if a.model:
        spec = parse_model_name(a.model, num_classes=num_classes)
        return ModelSpec(**{**spec.to_dict(), "residual": spec.residual and not a.no_residual,
                            "batchnorm": spec.batchnorm and not a.no_bn, "shortcut": a.shortcut or spec.shortcut})
    if not (a.family and a.depth):
        raise ArgError("a model is needed: --model NAME, or --family F --depth D.")
    return ModelSpec(a.family, a.depth, not a.no_residual, not a.no_bn, a.shortcut or "A", num_classes)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m explorer", description="Residual Explorer: train, list, analyse and report runs.")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train one run a seed (or resume one)")
    _add_model_args(t)
    t.add_argument("--data", default="digits", help="cifar10, digits, or a folder / .zip path")
    t.add_argument("--data-root", default="data", help="torchvision CIFAR-10 root (for --data cifar10)")
    t.add_argument("--download", action="store_true", help="download CIFAR-10 if missing (needs internet)")
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--seeds", type=int, nargs="+", default=[0])
    t.add_argument("--subset", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    t.add_argument("--schedule", choices=["cosine", "step", "onecycle"], default="cosine")
    t.add_argument("--warmup-epochs", type=float, default=0.0)
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--no-augment", action="store_true", help="no random crop / flip (e.g. for digits)")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU too (fast where the CPU has AMX)")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    t.add_argument("--resume", metavar="RUN", help="continue this run (its own settings)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--progress-file", type=Path, help="also write the latest progress event to this JSON file")

    r = sub.add_parser("runs", help="list runs")
    r.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    r.add_argument("--json", action="store_true")

    d = sub.add_parser("download-cifar10", help="download CIFAR-10 with torchvision (needs internet)")
    d.add_argument("--root", default="data")

    from . import cli_more
    cli_more.add_parsers(sub)
    return ap


class _Stopper:
    """Ctrl-C / SIGTERM ask the trainer to stop after the current step (cooperative)."""

    def __init__(self):
        self.stop = False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_):
        if self.stop:  # a second Ctrl-C: leave at once (the last finished epoch is on disk)
            raise KeyboardInterrupt
        self.stop = True

    def __call__(self) -> bool:
        return self.stop


def _init_distributed():
    import torch
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    use_cuda = torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group("nccl" if use_cuda else "gloo")


def cmd_train(a) -> int:
    rc = 2
    try:
        rc = _train(a)
        return rc
    finally:
        if a.progress_file and int(os.environ.get("RANK", "0")) == 0:
            from .atomic import atomic_write_json
            status = {0: "finished", 130: "cancelled"}.get(rc, "failed")
            prev = {}
            try:
                prev = json.loads(a.progress_file.read_text())
            except (OSError, ValueError):
                pass
            atomic_write_json(a.progress_file, {**prev, "done": True, "status": status})


def _train(a) -> int:
    from .data import load_dataset
    from .runner import resume_run, start_run

    stopper = _Stopper()
    _init_distributed()
    rank = int(os.environ.get("RANK", "0"))
    bar = _Bar(enabled=not a.no_progress and rank == 0)
    if a.progress_file and rank == 0:
        from .runner import progress_file_writer
        bar.also = progress_file_writer(a.progress_file)
    if a.resume:
        run, result = resume_run(a.root, a.resume, on_progress=bar, should_stop=stopper)
        bar.close()
        _report(run, result, rank)
        return 0 if result["status"] != "cancelled" else 130
    for name, v in (("epochs", a.epochs), ("batch size", a.batch_size)):
        if v <= 0:
            raise ArgError(f"{name} must be a positive integer, got {v}.")
    if a.lr <= 0:
        raise ArgError(f"lr must be positive, got {a.lr}.")
    spec0 = model_spec_from_args(a)
    cfgs = [TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay, schedule=a.schedule,
                        warmup_epochs=a.warmup_epochs, label_smoothing=a.label_smoothing, subset=a.subset, seed=s,
                        device=a.device, augment=not a.no_augment, bf16=True if a.bf16 else None).validate()
            for s in a.seeds]
    data = load_dataset(a.data, root=a.data_root, download=a.download)
    from .models import ModelSpec
    spec = ModelSpec(**{**spec0.to_dict(), "num_classes": data.num_classes})
    for cfg in cfgs:
        bar.reset(f"{spec.name} seed {cfg.seed}")
        run, result = start_run(spec, cfg, a.data, a.root, data=data, on_progress=bar, should_stop=stopper)
        bar.close()
        _report(run, result, rank)
        if result["status"] == "cancelled":
            return 130
    return 0


class _Bar:
    def __init__(self, enabled: bool):
        self.enabled, self.bar, self.desc, self.also = enabled, None, "", None

    def reset(self, desc: str):
        self.desc = desc

    def __call__(self, e: dict):
        if self.also is not None:
            self.also({**e, "label": self.desc})
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=e["steps"], desc=self.desc, unit="step", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(e["step"] - self.bar.n)
        post = {"epoch": f"{e['epoch']}/{e['epochs']}", "loss": f"{e['loss']:.3f}"}
        if "test_acc" in e:
            post["test_acc"] = f"{e['test_acc']:.3f}"
        self.bar.set_postfix(post, refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.bar = None


def _report(run, result, rank):
    if rank != 0 or run is None:
        return
    print(f"{run.id}: {result['status']} after {result['epoch']} epochs"
          + (f" ({result['message']})" if result.get("message") else "") + f" -> {run.path}")


def cmd_runs(a) -> int:
    from .runs import summaries
    rows = summaries(a.root)
    if a.json:
        keys = ["run_id", "model", "variant", "residual", "batchnorm", "seed", "status", "epochs_done", "train_acc",
                "test_acc", "path", "reason"]
        print(json.dumps([{k: r.get(k) for k in keys} for r in rows], indent=2))
        return 0
    if not rows:
        print(f"No runs in {a.root}.")
        return 0
    fmt = "{:<44} {:<6} {:>4} {:<12} {:>7} {:>9} {:>8}"
    print(fmt.format("run", "variant", "seed", "status", "epochs", "train acc", "test acc"))
    for r in rows:
        pct = lambda v: f"{100 * v:.2f}%" if isinstance(v, (int, float)) else "-"  # noqa: E731
        print(fmt.format(r["run_id"][:44], str(r.get("variant", "?")), str(r.get("seed", "-")), r["status"],
                         f"{r.get('epochs_done', 0)}/{r.get('epochs') or '?'}", pct(r.get("train_acc")), pct(r.get("test_acc"))))
        if r["status"] == "broken":
            print(f"    broken: {r['reason']}")
    return 0


def cmd_download(a) -> int:
    from .data import load_cifar10
    ds = load_cifar10(a.root, download=True)
    print(f"CIFAR-10 is in {a.root}: {len(ds.train_y)} train, {len(ds.test_y)} test images.")
    return 0


def main(argv: list[str] | None = None) -> int:
    from . import cli_more
    a = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "runs": cmd_runs, "download-cifar10": cmd_download, **cli_more.HANDLERS}
    try:
        return handlers[a.cmd](a)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last finished epoch is saved and the run can be resumed.", file=sys.stderr)
        return 130
