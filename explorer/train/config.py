"""What a training run is asked to do: the typed config, its validation, the learning-rate schedule.

Pure and cheap: nothing here touches data or models. :func:`recommended_defaults` holds the
settings under which a short run on a small data set actually learns.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

SCHEDULES = ("cosine", "step", "onecycle")
MAX_EPOCHS = 10_000  # more is a typo, not an experiment: 10,000 CIFAR-10 epochs of resnet20 are weeks of GPU time
MAX_BATCH = 65_536  # images a step (train or eval); a larger batch of 32x32 images exhausts any GPU's memory
SEED_LIMIT = 2 ** 32  # seeds are < 2**32: each epoch seeds its generators with seed * 1,000,003 + epoch (+ rank),
# and torch takes seeds < 2**64 only, so seeds near 2**63 (2**44 and up) would overflow after the first epoch


class ConfigError(ValueError):
    """A training setting out of range; the message says what was expected."""


@dataclass
class TrainConfig:
    epochs: int = 15  # full passes over the (subset of the) training split
    batch_size: int = 128  # images a step, summed over all processes under torchrun
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9  # SGD momentum (Nesterov)
    weight_decay: float = 5e-4  # L2 on conv / linear weights; none on biases and BatchNorm
    schedule: str = "cosine"  # cosine | step (/10 at 50% and 75%, He et al.) | onecycle
    warmup_epochs: float = 0.0  # linear warm-up from lr/10 to lr, in epochs
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    subset: int | None = None  # train on a stratified subset of this many images (fixed, seed 0)
    val: int | None = None  # hold out this many training images (stratified) as a validation split, scored every epoch
    val_seed: int = 0  # the seed that draws the validation split (recorded, so the split is fixed)
    seed: int = 0  # initialisation, shuffling, augmentation
    device: str = "auto"  # auto | cpu | cuda
    augment: bool = True  # random crop (4-pixel padding) + horizontal flip
    train_eval_size: int = 5000  # clean (no augmentation, eval mode) train accuracy on this many images
    eval_batch_size: int = 1000
    channels_last: bool | None = None  # None: on (NHWC is faster for cuDNN and for oneDNN on this CPU: +19% for resnet20)
    bf16: bool | None = None  # bf16 autocast; None: on for CUDA, off on CPU (opt in where the CPU has AMX / AVX512-BF16)
    log_every: int = 20  # progress callback period in steps

    def validate(self) -> "TrainConfig":
        """Refuse, with one sentence, every setting the training loop could not run."""
        def need(ok: bool, msg: str):
            if not ok:
                raise ConfigError(msg)

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        need(is_int(self.epochs) and 0 < self.epochs <= MAX_EPOCHS,
             f"epochs must be an integer from 1 to {MAX_EPOCHS:,}, got {self.epochs!r}.")
        need(is_int(self.batch_size) and 2 <= self.batch_size <= MAX_BATCH,
             f"batch size must be an integer from 2 to {MAX_BATCH:,}, got {self.batch_size!r}.")
        for name in ("lr", "momentum", "weight_decay", "warmup_epochs", "label_smoothing"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v), f"{name} must be a finite number, got {v!r}.")
        need(self.lr > 0, f"lr must be positive, got {self.lr!r}.")
        need(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum!r}.")
        need(self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay!r}.")
        need(0 <= self.warmup_epochs < self.epochs, f"warm-up epochs must be in [0, epochs), got {self.warmup_epochs!r}.")
        need(0 <= self.label_smoothing < 1, f"label smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        need(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}.")
        need(self.subset is None or (is_int(self.subset) and self.subset > 0), f"subset must be a positive integer, got {self.subset!r}.")
        need(self.val is None or (is_int(self.val) and self.val > 0), f"val must be a positive integer, got {self.val!r}.")
        need(is_int(self.val_seed) and 0 <= self.val_seed < SEED_LIMIT,
             f"val_seed must be an integer from 0 to 2**32 - 1, got {self.val_seed!r}.")
        # the loop drops the last partial batch (BatchNorm needs > 1 image): a subset below one batch trains nothing
        need(self.subset is None or self.subset >= self.batch_size,
             f"subset of {self.subset} images is smaller than the batch size {self.batch_size}, so no step could be "
             "trained; raise the subset or lower the batch size.")
        need(is_int(self.seed) and 0 <= self.seed < SEED_LIMIT, f"seed must be an integer from 0 to 2**32 - 1, got {self.seed!r}.")
        need(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}.")
        need(isinstance(self.augment, bool), f"augment must be true or false, got {self.augment!r}.")
        for name in ("channels_last", "bf16"):
            v = getattr(self, name)
            need(v is None or isinstance(v, bool), f"{name} must be true, false or null (automatic), got {v!r}.")
        need(is_int(self.train_eval_size) and self.train_eval_size >= 0, "train_eval_size must be a non-negative integer.")
        need(is_int(self.eval_batch_size) and 0 < self.eval_batch_size <= MAX_BATCH,
             f"eval_batch_size must be an integer from 1 to {MAX_BATCH:,}, got {self.eval_batch_size!r}.")
        need(is_int(self.log_every) and self.log_every > 0, "log_every must be a positive integer.")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ConfigError("A training config must be a JSON object.")
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ConfigError(f"Unknown training config keys: {', '.join(sorted(extra))}.")
        return cls(**d).validate()


def resolve_device(device: str) -> torch.device:
    """The torch device for a config's ``device``; cuda without a GPU is a ConfigError.

    Checked when training starts, not when a record is read: a run trained on a GPU stays a
    valid record on a machine without one.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available; use cpu or auto.")
    return torch.device(device)


def lr_at(step: int, total_steps: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """Learning rate at optimisation step ``step`` (0-based), a pure function of the config."""
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warm:  # linear warm-up from lr/10
        return cfg.lr * (0.1 + 0.9 * step / warm)
    t = (step - warm) / max(1, total_steps - warm)  # progress after warm-up, in [0, 1)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))
    if cfg.schedule == "step":
        return cfg.lr * (0.1 ** ((t >= 0.5) + (t >= 0.75)))
    # one-cycle: up from lr/25 to lr over the first 30%, then cosine down to ~0
    if t < 0.3:
        return cfg.lr * (0.04 + 0.96 * t / 0.3)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))


# Found with bench/digits_defaults.py (resnet20, 5 epochs, CPU): random crops and flips of 8x8
# digits upsampled 4x shift whole strokes and mirror digits (a flipped 2 is no digit), which kept
# the default run near 60% test accuracy; without them it reaches 96-98% at batch 128, and 99%
# at batch 64 (19 steps an epoch instead of 9, for the same time an epoch).
_RECOMMENDED: dict[str, dict] = {
    "digits": {"augment": False, "batch_size": 64},
}


def recommended_defaults(dataset_name: str) -> dict:
    """TrainConfig field -> value that a short run on ``dataset_name`` should start from.

    Empty for CIFAR-like data (the dataclass defaults are the CIFAR recipe); for the 8x8
    ``digits`` the values under which ``--epochs 5`` of resnet20 reaches > 90% test accuracy.
    A fresh dict each call, so callers may change it.
    """
    return dict(_RECOMMENDED.get(dataset_name, {}))
