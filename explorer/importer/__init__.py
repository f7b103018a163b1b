"""Import weights trained elsewhere as a run, judged by content, never by name, and never by running code.

* ``formats``: which format the bytes are (safetensors, PyTorch zip, PyTorch legacy), and the
  size checks made before anything is unpacked (decompression and allocation bombs);
* ``pickle_scan``: the storages a PyTorch pickle declares, read from its opcodes (nothing executed);
* ``keys``: containers unwrapped, key layouts of the common CIFAR ResNet code and torchvision
  mapped onto the explorer's model, dtypes and shapes checked;
* ``normalization``: the input statistics the weights expect (data, cifar10, imagenet, custom);
* ``core``: `import_file`, which makes the run.
"""
from .core import DEFAULT_MAX_BYTES, EXTENSIONS, check_extension, import_file, model_bytes, read_weights
from .formats import ImportRefused, import_limit, sniff
from .keys import map_key, find_state_dict, map_state_dict, strip_prefixes
from .normalization import (CIFAR10, IMAGENET, Normalization, NormalizationError, parse_normalization,
                            with_normalization)

__all__ = [
    "DEFAULT_MAX_BYTES", "EXTENSIONS", "check_extension", "import_file", "model_bytes", "read_weights", "ImportRefused",
    "import_limit", "sniff", "map_key", "find_state_dict", "map_state_dict", "strip_prefixes", "CIFAR10", "IMAGENET",
    "Normalization", "NormalizationError", "parse_normalization", "with_normalization",
]
