"""Data sets held in memory as uint8 tensors, batch augmentation, and the probe set.

Every data set becomes a `Dataset`: train/test images as uint8 tensors (N, 3, 32, 32), int64
labels, class names and a content fingerprint. The modules:

* ``dataset``: the record, its fingerprint, normalisation;
* ``sources``: digits, torchvision's CIFAR-10, `load_dataset`; ``download``: fetching CIFAR-10;
* ``folder`` and ``cache``: folders and zips of images, decoded once and cached as .npz;
* ``augment``: crops and flips on the device;
* ``probe`` and ``resolve``: the probe set, the shipped one, and which one a run is analysed on.
"""
from .augment import augment_batch
from .dataset import (CIFAR10_CLASSES, IMAGE_SIZE, JPEG_COPY, DataError, Dataset, content_fingerprint,
                      default_cache_dir, make_dataset, normalize)
from .download import download_cifar10
from .folder import IMAGE_EXTS, MAX_ZIP_MEMBER_BYTES, MAX_ZIP_TOTAL_BYTES, decode_image, load_folder
from .probe import (PROBE_SEED, PROBE_SIZE, ProbeSet, load_shipped_probe, probe_set, read_probe_file,
                    shipped_probe_path, write_shipped_probe)
from .resolve import ResolvedProbe, resolve_probe
from .cifar10 import CIFAR10_HELP, cifar10_present, load_cifar10
from .sources import load_dataset, load_digits

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_HELP", "IMAGE_EXTS", "IMAGE_SIZE", "JPEG_COPY", "MAX_ZIP_MEMBER_BYTES",
    "MAX_ZIP_TOTAL_BYTES", "PROBE_SEED", "PROBE_SIZE", "DataError", "Dataset", "ProbeSet", "ResolvedProbe",
    "augment_batch", "cifar10_present", "content_fingerprint", "decode_image", "default_cache_dir",
    "download_cifar10", "load_cifar10", "load_dataset", "load_digits", "load_folder", "load_shipped_probe",
    "make_dataset", "normalize", "probe_set", "read_probe_file", "resolve_probe", "shipped_probe_path",
    "write_shipped_probe",
]
