"""`import`: weights trained elsewhere become a run (status imported)."""
from __future__ import annotations

from pathlib import Path

from ..settings import zoo_root
from .common import add_model_args, model_spec_from_args


def add_parser(sub):
    i = sub.add_parser("import", help="import weights (.safetensors, or a .pt/.pth state dict) as a run")
    i.add_argument("file", type=Path)
    add_model_args(i)
    i.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    i.add_argument("--data", default=None, help="the data set the weights were trained on (for later analysis)")
    return i


def run(a) -> int:
    from ..importer import import_file

    info = None
    spec = model_spec_from_args(a)
    if a.data:
        from ..data import load_dataset
        from ..models import ModelSpec
        from ..runner import data_info
        ds = load_dataset(a.data)
        info = data_info(ds, a.data)
        spec = ModelSpec(**{**spec.to_dict(), "num_classes": ds.num_classes})
    run_ = import_file(a.file, spec, a.root or zoo_root(), data_info=info)
    print(f"imported {a.file.name} as {spec.label}: run {run_.id} -> {run_.path}")
    return 0
