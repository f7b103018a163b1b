"""One epoch of resnet18 on a CIFAR-10-sized training set with the explorer trainer, on a GPU.

    python bench/gpu_epoch.py [--data PATH] [--batch-sizes 128 512]

Without --data it uses 50,000 random 32x32 images (the timing of an epoch does not depend on
the pixels). Prints the training time of epoch 2 (epoch 1 includes cuDNN autotuning); the
published A100 baseline for this model is 2.1 s an epoch, the target on an H100 1.5 s.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.data import Dataset, load_dataset  # noqa: E402
from explorer.models import build_model  # noqa: E402
from explorer.train import TrainConfig, train  # noqa: E402


def synthetic() -> Dataset:
    g = torch.Generator().manual_seed(0)
    tx = torch.randint(0, 256, (50000, 3, 32, 32), dtype=torch.uint8, generator=g)
    vx = torch.randint(0, 256, (10000, 3, 32, 32), dtype=torch.uint8, generator=g)
    return Dataset("synthetic", "random CIFAR-sized images", tx, torch.arange(50000) % 10, vx, torch.arange(10000) % 10,
                   [str(i) for i in range(10)], "synthetic")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure")
        return
    data = load_dataset(a.data) if a.data else synthetic()
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {a.model}, data: {data.description}")
    for bs in a.batch_sizes:
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=2, batch_size=bs, lr=0.1 * bs / 128, train_eval_size=0, device="cuda", log_every=10**6)
        st = train(build_model(a.model), data, cfg)
        times = [round(h["time_s"], 2) for h in st.history]
        print(f"batch {bs}: epoch training times {times} s; steady epoch {min(times[1:]):.2f} s "
              f"({50000 / min(times[1:]):.0f} images/s)")


if __name__ == "__main__":
    main()
