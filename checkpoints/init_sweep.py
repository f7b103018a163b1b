"""The initialisation sweep, resumably, at low priority: every net's measures at initialisation.

    nice -n 19 python checkpoints/init_sweep.py [--depths 8 14 20 32 44 56 110] [--seeds 20] [--out CSV]

Depths x the four variants (plain / residual, with / without BatchNorm) x seeds 0..S-1 of
:func:`explorer.studies.init_measures.init_measures` on the shipped probe set (500 CIFAR-10 test
images), normalised with the CIFAR-10 statistics a zoo run recorded in its config.json. Seed by
seed (every net gets seed 0 before any gets seed 1), so that a stopped sweep holds comparable
nets; the table is rewritten atomically after every net, and a restart skips the nets it holds.
The table is tidy: depth, residual, batchnorm, seed, measure, block, value.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from explorer.atomic import atomic_write_text  # noqa: E402
from explorer.data import load_shipped_probe, normalize  # noqa: E402
from explorer.studies.init_measures import (COLUMNS, DEPTHS, LINES, POINTS, VARIANTS, init_measures,  # noqa: E402
                                            sweep_spec)

OUT = REPO / "checkpoints" / "studies" / "init_sweep.csv"


def cifar10_statistics() -> tuple[torch.Tensor, torch.Tensor, str]:
    """The normalisation a zoo run trained with: (mean, std, the run's folder name)."""
    for config in sorted((REPO / "checkpoints").glob("*/config.json")):
        data = json.loads(config.read_text()).get("data", {})
        if data.get("description", "").startswith("CIFAR-10") and "mean" in data and "std" in data:
            return torch.tensor(data["mean"]), torch.tensor(data["std"]), config.parent.name
    raise SystemExit("No zoo run under checkpoints/ records CIFAR-10's normalisation.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=list(DEPTHS))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (one is faster on a busy 2-core machine)")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    probe = load_shipped_probe()
    mean, std, run = cifar10_statistics()
    x, y = normalize(probe.images, mean, std), probe.labels
    print(f"probe: {len(x)} images ({probe.hash}); normalisation from {run}; lines {LINES} x {POINTS} points",
          flush=True)
    frame = pd.read_csv(a.out) if a.out.exists() else pd.DataFrame(columns=list(COLUMNS))
    done = set(map(tuple, frame[["depth", "residual", "batchnorm", "seed"]].drop_duplicates().to_numpy().tolist()))
    for d in a.depths:
        for r, b in VARIANTS:
            sweep_spec(d, r, b)  # a bad depth fails before any work
    for s in range(a.seeds):
        for d in a.depths:
            for r, b in VARIANTS:
                if (d, r, b, s) in done:
                    continue
                t = time.perf_counter()
                rows = init_measures(sweep_spec(d, r, b), s, x, y).rows()
                frame = pd.concat([frame, pd.DataFrame(rows, columns=list(COLUMNS))], ignore_index=True)
                buf = io.StringIO()
                frame.to_csv(buf, index=False)
                a.out.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(a.out, buf.getvalue())
                g = next(v["value"] for v in rows if v["measure"] == "grad_ratio")
                print(f"seed {s} depth {d} residual {r} batchnorm {b}: {time.perf_counter() - t:.1f} s, "
                      f"grad ratio {g:.3g}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
