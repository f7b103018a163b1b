"""From what a checkpoint holds to the explorer model's state dict: unwrap, rename, check.

Containers unwrapped (up to two levels): ``state_dict``, ``model_state_dict``, ``model``, ``net``,
``network``, ``module`` (e.g. ``{'state_dict': ..., 'best_prec1': 91.2}``,
``{'net': ..., 'acc': ...}``, ``{'model': {'state_dict': ...}}``). A prefix every key shares
(``module.`` from DataParallel / DDP, ``model.`` / ``net.`` from training wrappers,
``_orig_mod.`` from torch.compile) is dropped. Key layouts mapped:

* the common CIFAR ResNet code (kuangliu's ``pytorch-cifar``; akamaster's ``resnet20-….th``
  files): ``conv1``, ``bn1``, ``layerN.<j>.{conv,bn}{1,2}``, ``shortcut.N``, ``linear``; its
  option-A shortcut has no parameters, like the explorer's;
* torchvision: the same with ``downsample.N`` and ``fc``.

Every tensor must then match the model in name and shape, and in kind: a floating-point
parameter must come as floating point (float16/64 are converted), never as int8 or another
integer type (quantised weights are not imported), and must be finite.
"""
from __future__ import annotations

import re

import torch

from ..models import ModelSpec, build_model
from ..runs import load_weights_into
from .formats import ImportRefused

CONTAINERS = ("state_dict", "model_state_dict", "model", "net", "network", "module")
PREFIXES = ("module.", "model.", "net.", "_orig_mod.")


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items())


def find_state_dict(obj, source: str) -> dict[str, torch.Tensor]:
    """The mapping of names to tensors in ``obj``: itself, or under a usual key, nested up to two levels."""
    level = [obj]
    for _ in range(3):  # the object itself, then one and two levels down
        for o in level:
            if _is_tensor_dict(o):
                return dict(o)
        level = [o[k] for o in level if isinstance(o, dict) for k in CONTAINERS if isinstance(o.get(k), dict)]
    raise ImportRefused(f"{source} holds no state dict (a mapping of names to tensors); save one with "
                        "torch.save(model.state_dict(), path) or use safetensors.")


def strip_prefixes(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a wrapper's prefix that every key shares, as often as it is repeated."""
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if all(k.startswith(p) and len(k) > len(p) for k in tensors):
                tensors = {k[len(p):]: v for k, v in tensors.items()}
                changed = True
    return tensors


def map_key(key: str) -> str:
    key = re.sub(r"^(module\.)+", "", key)
    key = re.sub(r"^conv1\.", "stages.0.0.", key)
    key = re.sub(r"^bn1\.", "stages.0.1.", key)
    key = re.sub(r"^layer(\d+)\.", r"stages.\1.", key)
    key = key.replace(".downsample.", ".shortcut.")
    key = re.sub(r"^(linear|fc)\.", "fc.", key)
    return key


def _check_kinds(mapped: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: str) -> None:
    for k, want in expected.items():
        got = mapped.get(k)
        if got is None or got.shape != want.shape:
            continue  # reported by load_weights_into with every other mismatch
        if want.is_floating_point() and not got.is_floating_point():
            raise ImportRefused(f"{source} holds {str(got.dtype).replace('torch.', '')} values for {k} where the model "
                                "has floating-point weights; quantised or integer weights are not imported.")
        if not want.is_floating_point() and (got.is_floating_point() or got.is_complex() or got.dtype == torch.bool):
            raise ImportRefused(f"{source} holds {str(got.dtype).replace('torch.', '')} values for {k} where the model "
                                "keeps an integer counter.")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise ImportRefused(f"{source} holds non-finite values (NaN or infinity) in {k}; such weights cannot be "
                                "analysed.")


def map_state_dict(tensors: dict[str, torch.Tensor], spec: ModelSpec, source: str) -> dict[str, torch.Tensor]:
    """Rename keys onto the explorer's model; fill BatchNorm's step counters if absent; check everything else."""
    mapped = {map_key(k): v for k, v in strip_prefixes(tensors).items()}
    if len(mapped) != len(tensors):
        raise ImportRefused(f"{source} holds two tensors that map onto the same parameter of the model; "
                            "its key layout is not one this importer knows.")
    model = build_model(spec)
    expected = model.state_dict()
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in mapped:
            mapped[k] = v.clone()  # a counter only; some code (and torch before 0.4.1) does not save it
    _check_kinds(mapped, expected, source)
    load_weights_into(model, mapped, source)  # raises a precise RunError on any mismatch
    out = {k: mapped[k].to(expected[k].dtype).contiguous() for k in expected}
    for k, v in out.items():  # a finite float64 (1e300, say) can overflow to infinity in float32
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ImportRefused(f"{source} holds values in {k} too large for {str(v.dtype).replace('torch.', '')} "
                                "weights (they become infinite); such weights cannot be analysed.")
    return out
