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
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset, augment_batch, normalize
from ..models import ResNet
from .config import ConfigError, TrainConfig, lr_at, resolve_device
from .gradlog import GradLog, GradMeter


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


def split_indices(y: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(training indices, validation indices or None) into the training split.

    The validation split is a class-stratified draw of ``cfg.val`` images with ``cfg.val_seed``;
    the training images are the rest, from which ``cfg.subset`` (if any) is drawn as before. The
    test split is never used to choose anything.
    """
    rest = torch.arange(len(y))
    val_idx = None
    if cfg.val:
        if cfg.val >= len(y):
            raise ConfigError(f"a validation split of {cfg.val} images asked for, but the training split has only {len(y)}.")
        val_idx = stratified_subset(y, cfg.val, seed=cfg.val_seed)
        keep = torch.ones(len(y), dtype=torch.bool)
        keep[val_idx] = False
        rest = rest[keep]
    if cfg.subset:
        rest = rest[stratified_subset(y[rest], cfg.subset)]
    return rest, val_idx


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


def param_groups(model: ResNet, weight_decay: float) -> list[dict]:
    """The model's policy: weight decay on conv / linear weights, none on biases and norms; the
    model's slow parameters (published Fixup's scalars) at a tenth of the learning rate (``lr_scale``)."""
    slow = {id(p) for p in model.slow_parameters()}
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1 and id(p) not in slow]
    groups = [{"params": decay, "weight_decay": weight_decay, "lr_scale": 1.0},
              {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0}]
    if slow:
        groups.append({"params": [p for p in model.parameters() if id(p) in slow], "weight_decay": 0.0, "lr_scale": 0.1})
    return groups


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


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std, cfg: TrainConfig, num_classes: int,
             device: torch.device, dist_info: tuple[int, int] = (0, 1),
             on_batch: Callable[[int], None] | None = None) -> dict:
    """Loss, accuracy and per-class accuracy on (x, y); under torchrun each rank takes a
    disjoint shard (no duplicated samples) and the sums are all-reduced. ``on_batch(n)``: called
    after each batch with the number of images done so far (a progress bar)."""
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
        if on_batch is not None:
            on_batch(min(i + cfg.eval_batch_size, len(x)))
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
    opt = torch.optim.SGD(param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    load_optimizer_state(opt, state.optimizer)
    net: nn.Module = model
    if dist:
        if device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    # Data on the device: uint8 images, normalised per batch with the training statistics.
    mean, std = data.mean_std()
    train_idx, val_idx = split_indices(data.train_y, cfg)
    tx, ty = data.train_x[train_idx].to(device), data.train_y[train_idx].to(device)
    vx, vy = data.test_x.to(device), data.test_y.to(device)
    held = None if val_idx is None else (data.train_x[val_idx].to(device), data.train_y[val_idx].to(device))
    clean = None  # a fixed stratified train subset for the clean (eval-mode, unaugmented) accuracy
    if cfg.train_eval_size:
        idx = stratified_subset(ty.cpu(), min(cfg.train_eval_size, len(ty))).to(device)
        clean = (tx[idx], ty[idx])
    local_bs = cfg.batch_size // world
    steps_per_epoch = len(tx) // cfg.batch_size  # the last partial batch is dropped (BatchNorm needs > 1 image)
    if steps_per_epoch == 0:
        raise ConfigError(f"batch size {cfg.batch_size} is larger than the {len(tx)} training images.")
    total_steps = steps_per_epoch * cfg.epochs
    meter = GradMeter(model, steps_per_epoch, device)
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
                group["lr"] = lr * group["lr_scale"]
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
        if held is not None:
            va = evaluate(model, *held, mean, std, cfg, data.num_classes, device, (rank, world))
            row.update(val_loss=va["loss"], val_acc=va["acc"])
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
