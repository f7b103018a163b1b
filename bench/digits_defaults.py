"""Which settings make the 5-epoch digits example learn: train candidates one after another.

    OMP_NUM_THREADS=1 python bench/digits_defaults.py [--model resnet20] [--epochs 5] [--seeds 0]

Each candidate is a set of TrainConfig overrides on top of the dataclass defaults (the CIFAR
recipe), trained on the CPU with the run's seed used for initialisation as the runner does.
Prints one line a candidate: final train accuracy (augmented batches), clean train accuracy,
test accuracy, test accuracy after every epoch. The last candidate is
``recommended_defaults("digits")``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.data import load_digits  # noqa: E402
from explorer.models import build_model  # noqa: E402
from explorer.train import TrainConfig, recommended_defaults, train  # noqa: E402

CANDIDATES = [
    {},
    {"augment": False},
    {"augment": False, "batch_size": 32},
    {"augment": False, "batch_size": 32, "lr": 0.05},
    {"augment": False, "batch_size": 64, "lr": 0.05},
    recommended_defaults("digits"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    a = ap.parse_args()
    data = load_digits()
    for over in CANDIDATES:
        for seed in a.seeds:
            cfg = TrainConfig(**{"epochs": a.epochs, "device": "cpu", **over, "seed": seed}).validate()
            torch.manual_seed(cfg.seed)
            t0 = time.perf_counter()
            st = train(build_model(a.model), data, cfg)
            h = st.history[-1]
            curve = " ".join(f"{r['test_acc']:.3f}" for r in st.history)
            print(f"{a.model} seed {seed} {over or 'defaults'}: train {h['train_acc']:.3f}, clean train "
                  f"{h.get('train_eval_acc', float('nan')):.3f}, test {h['test_acc']:.3f} (by epoch: {curve}), "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
