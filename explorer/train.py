"""The training loop: a typed config in, a per-epoch history and a per-step gradient log out.

One explicit function, `train`, readable top to bottom. The data set lives on the training
device as uint8 tensors; crops and flips are done on whole batches there. Everything that
makes a run reproducible is derived from (seed, epoch): the shuffle and the augmentation of
epoch e use generators seeded from both, so a run resumed after epoch e continues exactly as
an uninterrupted one (on CPU). This module knows nothing of the run store or of Streamlit:
it reports through callbacks.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Dataset, augment_batch, normalize
from .models import ResNet

SCHEDULES = ("cosine", "step", "onecycle")


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
    seed: int = 0  # initialisation, shuffling, augmentation
    device: str = "auto"  # auto | cpu | cuda
    augment: bool = True  # random crop (4-pixel padding) + horizontal flip
    train_eval_size: int = 5000  # clean (no augmentation, eval mode) train accuracy on this many images
    eval_batch_size: int = 1000
    channels_last: bool | None = None  # None: on (NHWC is faster for cuDNN and for oneDNN on this CPU: +19% for resnet20)
    bf16: bool | None = None  # bf16 autocast; None: on for CUDA, off on CPU (opt in where the CPU has AMX / AVX512-BF16)
    log_every: int = 20  # progress callback period in steps

    def validate(self) -> "TrainConfig":
        def need(ok: bool, msg: str):
            if not ok:
                raise ConfigError(msg)

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        need(is_int(self.epochs) and self.epochs > 0, f"epochs must be a positive integer, got {self.epochs!r}.")
        need(is_int(self.batch_size) and self.batch_size > 1, f"batch size must be an integer of at least 2, got {self.batch_size!r}.")
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
        need(is_int(self.seed) and self.seed >= 0, f"seed must be a non-negative integer, got {self.seed!r}.")
        need(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}.")
        need(self.device != "cuda" or torch.cuda.is_available(), "device cuda was asked for but no CUDA GPU is available; use cpu or auto.")
        need(is_int(self.train_eval_size) and self.train_eval_size >= 0, "train_eval_size must be a non-negative integer.")
        need(is_int(self.eval_batch_size) and self.eval_batch_size > 0, "eval_batch_size must be a positive integer.")
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
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
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


def stratified_subset(y: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of a class-stratified subset of ``size`` items (sorted)."""
    if size > len(y):
        raise ConfigError(f"subset of {size} images asked for, but the training split has only {len(y)}.")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    k = int(y.max()) + 1
    counts = torch.bincount(y, minlength=k).double()
    quota = torch.floor(counts / len(y) * size).long()
    rest = size - int(quota.sum())
    quota[torch.argsort(counts / len(y) * size - quota, descending=True)[:rest]] += 1  # largest remainders
    picked = [perm[y[perm] == c][: int(quota[c])] for c in range(k)]
    return torch.cat(picked).sort().values


@dataclass
class GradLog:
    """Per-step gradient statistics: one row a step, one column a parameter group."""

    groups: list[str]  # stage0..stageN, head
    mean_abs: np.ndarray  # (steps, groups) mean |grad| over the group's parameters
    l2: np.ndarray  # (steps, groups) L2 norm of the group's gradient
    loss: np.ndarray  # (steps,) training loss of the step's batch
    lr: np.ndarray  # (steps,)
    epoch: np.ndarray  # (steps,) 1-based epoch of the step

    @classmethod
    def empty(cls, groups: list[str]) -> "GradLog":
        g = len(groups)
        return cls(groups, np.zeros((0, g), np.float32), np.zeros((0, g), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.int32))

    def append(self, other: "GradLog") -> None:
        for name in ("mean_abs", "l2", "loss", "lr", "epoch"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def upto(self, epoch: int) -> "GradLog":
        keep = self.epoch <= epoch
        return GradLog(self.groups, self.mean_abs[keep], self.l2[keep], self.loss[keep], self.lr[keep], self.epoch[keep])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean_abs": self.mean_abs, "l2": self.l2, "loss": self.loss, "lr": self.lr, "epoch": self.epoch}


@dataclass
class TrainState:
    """Where a run stands after its last finished epoch; what a checkpoint holds."""

    epoch: int = 0  # finished epochs
    step: int = 0  # optimisation steps done
    model: dict[str, torch.Tensor] = field(default_factory=dict)
    optimizer: dict[str, torch.Tensor] = field(default_factory=dict)  # momentum buffers by parameter index
    history: list[dict] = field(default_factory=list)  # one row an epoch
    gradlog: GradLog | None = None
    status: str = "running"  # running | finished | diverged | cancelled
    diverged_at: dict | None = None  # {"epoch": e, "step": s}
    message: str = ""


def _param_groups(model: ResNet, weight_decay: float) -> list[dict]:
    """The model's policy: weight decay on conv / linear weights, none on biases and norms."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _optimizer_params(opt: torch.optim.Optimizer) -> list[nn.Parameter]:
    return [p for g in opt.param_groups for p in g["params"]]


def optimizer_state(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, p in enumerate(_optimizer_params(opt)):
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            out[f"{i}.momentum_buffer"] = buf.detach().cpu().clone()
    return out


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict[str, torch.Tensor]) -> None:
    params = _optimizer_params(opt)
    for key, t in state.items():
        i = int(key.split(".")[0])
        opt.state[params[i]]["momentum_buffer"] = t.to(params[i].device, params[i].dtype).clone()


class _GradMeter:
    """Mean |grad| and L2 norm of every stage's gradient, kept on the device for a whole epoch."""

    def __init__(self, model: ResNet, steps: int, device: torch.device):
        groups = model.stage_parameters()
        self.names = list(groups)
        self.params = [p for ps in groups.values() for p in ps]
        self.index = torch.tensor([i for i, ps in enumerate(groups.values()) for _ in ps], device=device)
        self.numel = torch.tensor([sum(p.numel() for p in ps) for ps in groups.values()], device=device, dtype=torch.float64)
        self.buf = torch.zeros(steps, 2, len(self.names), device=device, dtype=torch.float64)
        self.scalars = torch.zeros(steps, 2, device=device, dtype=torch.float64)  # loss, lr

    @torch.no_grad()
    def record(self, i: int, loss: torch.Tensor, lr: float) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        l1 = torch.stack(torch._foreach_norm(grads, 1)).double()
        l2 = torch.stack(torch._foreach_norm(grads, 2)).double()
        n = len(self.names)
        self.buf[i, 0] = torch.zeros(n, device=l1.device, dtype=l1.dtype).index_add_(0, self.index, l1) / self.numel
        self.buf[i, 1] = torch.zeros(n, device=l1.device, dtype=l1.dtype).index_add_(0, self.index, l2 * l2).sqrt()
        self.scalars[i, 0] = loss.detach().double()
        self.scalars[i, 1] = lr

    def to_log(self, steps: int, epoch: int) -> GradLog:
        b, s = self.buf[:steps].cpu().numpy(), self.scalars[:steps].cpu().numpy()
        return GradLog(self.names, b[:, 0].astype(np.float32), b[:, 1].astype(np.float32), s[:, 0].astype(np.float32),
                       s[:, 1].astype(np.float32), np.full(steps, epoch, np.int32))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std, cfg: TrainConfig, num_classes: int,
             device: torch.device, dist_info: tuple[int, int] = (0, 1)) -> dict:
    """Loss, accuracy and per-class accuracy on (x, y); under torchrun each rank takes a
    disjoint shard (no duplicated samples) and the sums are all-reduced."""
    rank, world = dist_info
    model.eval()
    x, y = x[rank::world], y[rank::world]
    sums = torch.zeros(2 + 2 * num_classes, device=device, dtype=torch.float64)  # loss, correct, per-class correct, per-class n
    for i in range(0, len(x), cfg.eval_batch_size):
        xb = normalize(x[i:i + cfg.eval_batch_size].to(device), mean, std)
        yb = y[i:i + cfg.eval_batch_size].to(device)
        if _channels_last(cfg, device):
            xb = xb.contiguous(memory_format=torch.channels_last)
        with _autocast(cfg, device):
            logits = model(xb)
        logits = logits.float()
        hit = (logits.argmax(1) == yb).double()
        sums[0] += F.cross_entropy(logits, yb, reduction="sum").double()
        sums[1] += hit.sum()
        sums[2:2 + num_classes] += torch.bincount(yb, weights=hit, minlength=num_classes)
        sums[2 + num_classes:] += torch.bincount(yb, minlength=num_classes).double()
    if world > 1:
        torch.distributed.all_reduce(sums)
    s = sums.cpu().numpy()
    n, per_n = s[2 + num_classes:].sum(), s[2 + num_classes:]
    per_class = [float(c / m) if m else float("nan") for c, m in zip(s[2:2 + num_classes], per_n)]
    return {"loss": float(s[0] / n), "acc": float(s[1] / n), "per_class": per_class}


def _channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    return True if cfg.channels_last is None else cfg.channels_last


def _autocast(cfg: TrainConfig, device: torch.device):
    on = device.type == "cuda" if cfg.bf16 is None else cfg.bf16
    return torch.autocast(device.type, torch.bfloat16, enabled=on)


ProgressFn = Callable[[dict], None]


def train(model: ResNet, data: Dataset, cfg: TrainConfig, *, start: TrainState | None = None,
          on_epoch: Callable[[TrainState], None] | None = None, on_progress: ProgressFn | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainState:
    """Train ``model`` on ``data`` from ``start`` (or from scratch) to ``cfg.epochs``.

    ``on_epoch(state)`` is called after every finished epoch (the run store writes the
    checkpoint there); ``on_progress(event)`` every ``cfg.log_every`` steps; ``should_stop()``
    is polled every step (cooperative cancellation: the unfinished epoch is dropped and the
    state stays at the last finished one). A non-finite loss stops the run as ``diverged``.
    Returns the final state; never raises for divergence or cancellation.
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    dist = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank, world = (torch.distributed.get_rank(), torch.distributed.get_world_size()) if dist else (0, 1)
    if cfg.batch_size % world:
        raise ConfigError(f"batch size {cfg.batch_size} must be divisible by the number of processes ({world}).")
    torch.backends.cudnn.benchmark = device.type == "cuda"
    model = model.to(device)
    if _channels_last(cfg, device):
        model = model.to(memory_format=torch.channels_last)
    state = start or TrainState(gradlog=GradLog.empty(list(model.stage_parameters())))
    if state.model:
        model.load_state_dict(state.model)
    opt = torch.optim.SGD(_param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    load_optimizer_state(opt, state.optimizer)
    net: nn.Module = model
    if dist:
        if device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    # Data on the device: uint8 images, normalised per batch with the training statistics.
    mean, std = data.mean_std()
    train_idx = stratified_subset(data.train_y, cfg.subset) if cfg.subset else torch.arange(len(data.train_y))
    tx, ty = data.train_x[train_idx].to(device), data.train_y[train_idx].to(device)
    vx, vy = data.test_x.to(device), data.test_y.to(device)
    clean = None  # a fixed stratified train subset for the clean (eval-mode, unaugmented) accuracy
    if cfg.train_eval_size:
        idx = stratified_subset(ty.cpu(), min(cfg.train_eval_size, len(ty))).to(device)
        clean = (tx[idx], ty[idx])
    local_bs = cfg.batch_size // world
    steps_per_epoch = len(tx) // cfg.batch_size  # the last partial batch is dropped (BatchNorm needs > 1 image)
    if steps_per_epoch == 0:
        raise ConfigError(f"batch size {cfg.batch_size} is larger than the {len(tx)} training images.")
    total_steps = steps_per_epoch * cfg.epochs
    meter = _GradMeter(model, steps_per_epoch, device)
    t_run = time.perf_counter()
    step_time = None

    while state.epoch < cfg.epochs and state.status == "running":
        epoch = state.epoch + 1
        net.train()
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)  # this epoch's shuffle
        perm = torch.randperm(len(tx), generator=g)[: steps_per_epoch * cfg.batch_size]
        perm = perm.view(steps_per_epoch, cfg.batch_size)[:, rank * local_bs:(rank + 1) * local_bs].to(device)
        aug_g = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch + 7919 * (rank + 1))
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.float64)
        t0 = time.perf_counter()
        stopped = False
        for i in range(steps_per_epoch):
            if should_stop is not None and should_stop():
                stopped = True
                break
            step = state.step + i
            lr = lr_at(step, total_steps, steps_per_epoch, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            xb = tx[perm[i]]
            if cfg.augment:
                xb = augment_batch(xb, aug_g)
            xb = normalize(xb, mean, std)
            if _channels_last(cfg, device):
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = ty[perm[i]]
            with _autocast(cfg, device):
                logits = net(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            meter.record(i, loss, lr)
            opt.step()
            loss_sum += loss.detach().double()
            correct += (logits.argmax(1) == yb).sum().double()
            if (i + 1) % cfg.log_every == 0 or i + 1 == steps_per_epoch or device.type == "cpu":
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    bad = meter.scalars[: i + 1, 0].cpu().numpy()
                    first = int(np.argmax(~np.isfinite(bad)))
                    state.status = "diverged"
                    state.diverged_at = {"epoch": epoch, "step": state.step + first + 1}
                    state.message = f"non-finite training loss at epoch {epoch}, step {state.step + first + 1}"
                    stopped = True
                    break
                if on_progress is not None and ((i + 1) % cfg.log_every == 0 or i + 1 == steps_per_epoch):
                    done = state.step + i + 1 - (start.step if start else 0)
                    step_time = (time.perf_counter() - t_run) / max(1, done)
                    on_progress({"epoch": epoch, "epochs": cfg.epochs, "step": state.step + i + 1, "steps": total_steps,
                                 "loss": lv, "lr": lr, "eta_s": step_time * (total_steps - state.step - i - 1)})
        if stopped:
            if state.status == "running":
                state.status, state.message = "cancelled", f"cancelled during epoch {epoch}; resumable from epoch {state.epoch}"
            break
        train_time = time.perf_counter() - t0
        n_seen = steps_per_epoch * cfg.batch_size
        if dist:
            torch.distributed.all_reduce(loss_sum)
            torch.distributed.all_reduce(correct)
        row = {"epoch": epoch, "lr": lr_at(state.step + steps_per_epoch - 1, total_steps, steps_per_epoch, cfg),
               "train_loss": float(loss_sum) / steps_per_epoch / world, "train_acc": float(correct) / n_seen,
               "time_s": train_time, "images_per_s": n_seen / train_time}
        test = evaluate(model, vx, vy, mean, std, cfg, data.num_classes, device, (rank, world))
        row.update(test_loss=test["loss"], test_acc=test["acc"], test_per_class=test["per_class"])
        if clean is not None:
            tr = evaluate(model, *clean, mean, std, cfg, data.num_classes, device, (rank, world))
            row.update(train_eval_loss=tr["loss"], train_eval_acc=tr["acc"])
        state.gradlog.append(meter.to_log(steps_per_epoch, epoch))
        state.history.append(row)
        state.epoch, state.step = epoch, state.step + steps_per_epoch
        state.model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state.optimizer = optimizer_state(opt)
        if not math.isfinite(row["test_loss"]):
            state.status = "diverged"
            state.diverged_at = {"epoch": epoch, "step": state.step}
            state.message = f"non-finite test loss after epoch {epoch}"
        elif state.epoch >= cfg.epochs:
            state.status = "finished"
        if on_epoch is not None and rank == 0:
            on_epoch(state)
        if on_progress is not None:
            on_progress({"epoch": epoch, "epochs": cfg.epochs, "step": state.step, "steps": total_steps,
                         "loss": row["train_loss"], "lr": row["lr"], "test_acc": row["test_acc"],
                         "train_acc": row["train_acc"], "eta_s": (step_time or 0) * (total_steps - state.step),
                         "epoch_end": True})
    return state
