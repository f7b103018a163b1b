"""`import`: weights trained elsewhere become a run (status imported, no training config)."""
from __future__ import annotations

from pathlib import Path

from ..settings import shorten, zoo_root
from .common import add_model_args, model_spec_from_args


def add_parser(sub):
    i = sub.add_parser("import", help="import weights (.safetensors, or a PyTorch .pt/.pth/.th/.tar/.ckpt/.bin file) as a run")
    i.add_argument("file", type=Path)
    add_model_args(i)
    i.add_argument("--root", type=Path, default=None, help=f"run store (default {zoo_root()})")
    i.add_argument("--data", default=None, help="the data set the weights were trained on (for evaluation and analysis)")
    i.add_argument("--normalization", default="data", metavar="data|cifar10|imagenet|M1,M2,M3/S1,S2,S3",
                   help="the input statistics the weights expect (default: data, the data set's own)")
    return i


def run(a) -> int:
    from ..importer import check_extension, import_file, parse_normalization

    check_extension(a.file.name)  # bad input is refused before the data set is loaded
    norm = parse_normalization(a.normalization)
    info = None
    spec = model_spec_from_args(a)
    if a.data:
        from ..data import load_dataset
        from ..models import ModelSpec
        from ..jobs.runner import data_info
        ds = load_dataset(a.data)
        info = data_info(ds, a.data)
        spec = ModelSpec(**{**spec.to_dict(), "num_classes": ds.num_classes})
    run_ = import_file(a.file, spec, a.root or zoo_root(), data_info=info, normalization=norm)
    d, src = run_.record.data, run_.record.provenance.import_source
    stats = "the data set's own (taken at evaluation)" if d.mean is None else \
        f"mean {', '.join(f'{v:.4g}' for v in d.mean)} / std {', '.join(f'{v:.4g}' for v in d.std)}"
    print(f"imported {shorten(a.file.name, 80)} (sha256 {src.sha256[:16]}…) as {spec.label}: run {run_.id} -> "
          f"{shorten(run_.path)}")
    print(f"    data: {d.description}; normalisation: {d.normalization}, {stats}")
    return 0
