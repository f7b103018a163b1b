"""Training throughput: the explorer trainer vs a seed-style loop vs the compute limit.

    python bench/train_speed.py [--model resnet20] [--batch-size 128] [--steps 30] [--data PATH|digits]

(a) explorer: `train.train` (uint8 tensors in memory, batch augmentation, channels_last, per-step
    gradient log); also with --bf16 autocast, an opt-in on CPUs with AMX;
(b) seed-style reference: Dataset + DataLoader(num_workers=2) with per-image PIL transforms
    RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize; model in NCHW fp32;
(c) compute limit: forward + backward + SGD step on one random batch already in memory, in the
    explorer's default layout (channels_last, fp32): what (a) would reach with free data and logging.
Same model, batch size and number of steps for all three; prints images/s and the ratios a/b and a/c.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.data import load_dataset  # noqa: E402
from explorer.models import build_model  # noqa: E402
from explorer.train import TrainConfig, train  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.zip"


def explorer_loop(data, model_name, bs, steps, device, bf16=None):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=1, batch_size=bs, subset=bs * steps, train_eval_size=0, device=device, log_every=10**6,
                      bf16=bf16)
    state = train(build_model(model_name), data, cfg)
    return state.history[0]["images_per_s"]


def seed_style_loop(data, model_name, bs, steps, device):
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms as T

    mean, std = data.mean_std()
    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean.tolist(), std.tolist())])
    images = data.train_x[: bs * steps].permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3) like torchvision's CIFAR10.data
    labels = data.train_y[: bs * steps].tolist()

    class Seed(Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(Image.fromarray(images[i])), labels[i]

    loader = DataLoader(Seed(), batch_size=bs, shuffle=True, num_workers=2, drop_last=True)
    torch.manual_seed(0)
    model = build_model(model_name).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    n, t0 = 0, time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(x)
    return n / (time.perf_counter() - t0)


def compute_limit(model_name, bs, steps, device):
    torch.manual_seed(0)
    model = build_model(model_name).to(device).train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(bs, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (bs,), device=device)
    for _ in range(2):  # warm-up
        F.cross_entropy(model(x), y).backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return bs * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=str(SHARED) if SHARED.exists() else "digits")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    data = load_dataset(a.data)
    steps = min(a.steps, len(data.train_y) // a.batch_size)
    print(f"{a.model}, batch {a.batch_size}, {steps} steps, data {data.description}, device {a.device}, "
          f"torch threads {torch.get_num_threads()}; median of {a.repeats} repeats")
    res = {"a": [], "a16": [], "b": [], "c": []}
    for _ in range(a.repeats):
        res["a"].append(explorer_loop(data, a.model, a.batch_size, steps, a.device))
        res["a16"].append(explorer_loop(data, a.model, a.batch_size, steps, a.device, bf16=True))
        res["b"].append(seed_style_loop(data, a.model, a.batch_size, steps, a.device))
        res["c"].append(compute_limit(a.model, a.batch_size, steps, a.device))
    med = {k: statistics.median(v) for k, v in res.items()}
    for k, label in (("a", "explorer trainer (default)"), ("a16", "explorer trainer, --bf16"),
                     ("b", "seed-style DataLoader + PIL"), ("c", "model only (compute limit)")):
        print(f"({k}) {label:<30} {med[k]:8.1f} images/s   runs: {', '.join(f'{v:.1f}' for v in res[k])}")
    print(f"a/b = {med['a'] / med['b']:.2f}   (target >= 1.5)")
    print(f"a/c = {med['a'] / med['c']:.2f}   (target >= 0.9)")
    print(f"with --bf16 (opt-in on the CPU): a/b = {med['a16'] / med['b']:.2f}, a/c = {med['a16'] / med['c']:.2f} "
          "(c is fp32)")


if __name__ == "__main__":
    main()
