"""What every command shares: the one-line-error parser, model arguments, Ctrl-C handling, progress bar."""
from __future__ import annotations

import argparse
import signal
import sys

from ..models import INITS, ModelSpec, parse_model_name

# Every error of ours is a ValueError subclass (DataError, ModelSpecError, RunError, ConfigError,
# AnalysisError); an OSError (a folder that cannot be written, say) is reported the same way.
USER_ERRORS = (ValueError, OSError)


class ArgError(ValueError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        print(f"error: {message[:300]} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def add_model_args(p) -> None:
    p.add_argument("--model", help="resnet18/34/50/101/152 or resnet20/32/44/56/110/... (cifar family)")
    p.add_argument("--family", choices=["resnet", "cifar"], help="explicit family, with --depth")
    p.add_argument("--depth", type=int, help="depth, with --family (cifar: 6n+2)")
    p.add_argument("--no-residual", action="store_true", help="plain net: no shortcut connections")
    p.add_argument("--no-bn", action="store_true", help="no BatchNorm layers")
    p.add_argument("--shortcut", choices=["A", "B"], default=None, help="cifar family shortcut option")
    p.add_argument("--branch-scale", choices=["none", "skipinit"], default=None,
                   help="skipinit: a learnable scalar, initialised to 0, on each residual branch (De & Smith 2020); "
                        "no-BN residual nets only")
    p.add_argument("--init", choices=list(INITS), default=None,
                   help="fixup: Zhang et al. 2019's Fixup as published, for no-BN residual nets; fixup-simplified: "
                        "the zoo's first, simplified version")


def model_spec_from_args(a, num_classes: int = 10) -> ModelSpec:
    if a.model and (a.family or a.depth):
        raise ArgError("give either --model or --family with --depth, not both.")
    scheme = {k: v for k, v in (("branch_scale", getattr(a, "branch_scale", None)), ("init", getattr(a, "init", None)))
              if v is not None}
    if a.model:
        spec = parse_model_name(a.model, num_classes=num_classes)
        return ModelSpec(**{**spec.to_dict(), "residual": spec.residual and not a.no_residual,
                            "batchnorm": spec.batchnorm and not a.no_bn, "shortcut": a.shortcut or spec.shortcut,
                            **scheme})
    if not (a.family and a.depth):
        raise ArgError("a model is needed: --model NAME, or --family F --depth D.")
    return ModelSpec(a.family, a.depth, not a.no_residual, not a.no_bn, a.shortcut or "A", num_classes, **scheme)


class Stopper:
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


class Bar:
    """A tqdm bar over training steps, plus an optional second progress callback."""

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
