"""``python -m explorer.data write-probe [--source ZIP] [--out FILE]``: regenerate the shipped probe set."""
from __future__ import annotations

import argparse
import sys

from .. import settings
from .dataset import DataError, shown
from .probe import read_probe_file, shipped_probe_path, write_shipped_probe
from .sources import load_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m explorer.data", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write-probe", help="store the 500-image probe set of a data set as one safetensors file")
    w.add_argument("--source", default=str(settings.SHARED_CIFAR_ZIP), help="the data set (default: the CIFAR-10 JPEG zip)")
    w.add_argument("--out", default=None, help=f"the file to write (default: {shown(shipped_probe_path())})")
    a = ap.parse_args(argv)
    try:
        out = write_shipped_probe(load_dataset(a.source), a.out)
        p = read_probe_file(out)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {shown(out)}: {len(p.indices)} images of {p.description}, probe hash {p.hash}, "
          f"data fingerprint {p.data_fingerprint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
