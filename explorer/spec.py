"""Model specs: what a ResNet of the explorer is (family, depth, switches), its name and label.

A :class:`ModelSpec` is checked before anything is built (a config.json from outside must not be
able to ask for a net of a million layers); :func:`parse_model_name` resolves names such as
``resnet56-nores`` or ``resnet20-nobn-skipinit``. What the switches mean is in ``explorer.models``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass


# Group layout of the resnet family (torchvision): depth -> (block kind, blocks a group).
RESNET_LAYERS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
RESNET_DEPTHS = tuple(RESNET_LAYERS)
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)  # the named ones; any 6n+2 builds
FAMILIES = ("resnet", "cifar")
MAX_CIFAR_DEPTH = 2000  # 1202 is the deepest in He et al.; beyond this a spec is refused, not built
MIN_CLASSES, MAX_CLASSES = 2, 10_000

BRANCH_SCALES = ("none", "skipinit")
INITS = ("kaiming", "fixup", "fixup-simplified")  # fixup: as published; fixup-simplified: the zoo's first, simplified version
# Seed 001's labels for the four residual x BatchNorm variants.
VARIANT_LABELS = {(True, True): "FULL", (False, True): "Nres", (True, False): "Nbn", (False, False): "Nboth"}


class ModelSpecError(ValueError):
    """A model name or spec that cannot be built."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a model; serialisable to JSON via `to_dict`."""

    family: str  # "resnet" | "cifar"
    depth: int  # total weighted layers (18, 50, 20, 56, ...)
    residual: bool = True  # False: plain net, no shortcut at all
    batchnorm: bool = True  # False: no normalisation layer, conv biases instead
    shortcut: str = "A"  # cifar family only: "A" (zero-pad identity) or "B" (projection)
    num_classes: int = 10
    branch_scale: str = "none"  # "skipinit": a learnable scalar (init 0) ends each residual branch
    init: str = "kaiming"  # "fixup": Zhang et al.'s initialisation with scalar biases and multipliers

    def __post_init__(self) -> None:
        # Checked before anything is built: a config.json from outside must not be able to ask
        # for a net of a million layers or a head of 10^12 outputs.
        if not isinstance(self.family, str) or self.family not in FAMILIES:
            raise ModelSpecError(f"Unknown model family {self.family!r}; expected one of {', '.join(FAMILIES)}.")
        for key, value in (("depth", self.depth), ("num_classes", self.num_classes)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ModelSpecError(f"Model spec key {key!r} must be an integer, got {value!r}.")
        for key, value in (("residual", self.residual), ("batchnorm", self.batchnorm)):
            if not isinstance(value, bool):
                raise ModelSpecError(f"Model spec key {key!r} must be true or false, got {value!r}.")
        if self.family == "resnet" and self.depth not in RESNET_LAYERS:
            depths = ", ".join(map(str, RESNET_DEPTHS))
            raise ModelSpecError(f"The resnet family has depths {depths}; got {self.depth}.")
        if self.family == "cifar" and not (8 <= self.depth <= MAX_CIFAR_DEPTH and (self.depth - 2) % 6 == 0):
            raise ModelSpecError(
                f"The cifar family needs a depth of the form 6n+2 between 8 and {MAX_CIFAR_DEPTH} "
                f"(8, 14, 20, 32, 44, 56, 110, ...); got {self.depth}."
            )
        if not isinstance(self.shortcut, str) or self.shortcut not in ("A", "B"):
            raise ModelSpecError(f"Shortcut option must be 'A' or 'B', got {self.shortcut!r}.")
        if not MIN_CLASSES <= self.num_classes <= MAX_CLASSES:
            raise ModelSpecError(f"A classifier needs {MIN_CLASSES} to {MAX_CLASSES} classes, got {self.num_classes}.")
        if not isinstance(self.branch_scale, str) or self.branch_scale not in BRANCH_SCALES:
            raise ModelSpecError(f"branch_scale must be one of {', '.join(BRANCH_SCALES)}, got {self.branch_scale!r}.")
        if not isinstance(self.init, str) or self.init not in INITS:
            raise ModelSpecError(f"init must be one of {', '.join(INITS)}, got {self.init!r}.")
        if self.branch_scale != "none" and self.init != "kaiming":
            raise ModelSpecError("SkipInit and Fixup are two alternatives; choose one of them, not both.")
        if self.scheme != "none" and (self.batchnorm or not self.residual):
            raise ModelSpecError(f"{self.scheme_label} replaces BatchNorm in a residual net: use it with residual "
                                 "shortcuts and without BatchNorm (--no-bn).")

    @property
    def scheme(self) -> str:
        """``none``, ``skipinit``, ``fixup`` or ``fixup-simplified``: how a no-BN residual net is made trainable."""
        return "skipinit" if self.branch_scale == "skipinit" else self.init if self.init != "kaiming" else "none"

    @property
    def scheme_label(self) -> str:
        return {"none": "", "skipinit": "SkipInit", "fixup": "Fixup", "fixup-simplified": "Fixup (simplified)"}[self.scheme]

    @property
    def variant(self) -> str:
        """Seed 001's label: FULL / Nres / Nbn / Nboth; ``Nbn+SkipInit`` / ``Nbn+Fixup`` for those schemes."""
        base = VARIANT_LABELS[(self.residual, self.batchnorm)]
        return base if self.scheme == "none" else f"{base}+{self.scheme_label}"

    @property
    def base_name(self) -> str:
        """`resnet56`; a depth whose name belongs to the other family gets a prefix."""
        name = f"resnet{self.depth}"
        if _family_of_depth(self.depth) == self.family:
            return name
        return f"{self.family}-{name}"

    @property
    def name(self) -> str:
        """Canonical short name: base name, variant suffixes, shortcut B marker.

        Examples: ``resnet20``, ``resnet20-nores``, ``resnet56-nobn``, ``resnet18-nores-nobn``,
        ``resnet20-B``.
        """
        parts = [self.base_name]
        if not self.residual:
            parts.append("nores")
        if not self.batchnorm:
            parts.append("nobn")
        if self.family == "cifar" and self.shortcut == "B" and self.residual:
            parts.append("B")
        if self.scheme != "none":
            parts.append({"fixup-simplified": "fixupsimple"}.get(self.scheme, self.scheme))
        return "-".join(parts)

    @property
    def label(self) -> str:
        """Display label, e.g. ``resnet20-nores (Nres)``."""
        return f"{self.name} ({self.variant})"

    @property
    def stage_names(self) -> list[str]:
        n = 4 if self.family == "resnet" else 3
        return [f"stage{i}" for i in range(n + 1)]

    def to_dict(self) -> dict:
        """The spec as JSON; the later keys (branch_scale, init) only when they are not the default,
        so that records and condition ids written before them stay as they were."""
        d = asdict(self)
        for key, default in (("branch_scale", "none"), ("init", "kaiming")):
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        if not isinstance(d, dict):
            raise ModelSpecError("A model spec must be a JSON object.")
        known = {"family", "depth", "residual", "batchnorm", "shortcut", "num_classes", "branch_scale", "init"}
        extra = set(d) - known
        if extra:
            raise ModelSpecError(f"Unknown model spec keys: {', '.join(sorted(extra))}.")
        try:
            return cls(**d)
        except TypeError as e:
            raise ModelSpecError(f"Incomplete model spec: {e}.") from None


def _family_of_depth(depth: int) -> str | None:
    if depth in RESNET_LAYERS:
        return "resnet"
    if depth >= 8 and (depth - 2) % 6 == 0:
        return "cifar"
    return None


_NAME_RE = re.compile(r"^(?:(resnet|cifar)-)?resnet(\d+)((?:-(?:nores|nobn|B|skipinit|fixupsimple|fixup))*)$")


def parse_model_name(
    name: str,
    residual: bool | None = None,
    batchnorm: bool | None = None,
    num_classes: int = 10,
) -> ModelSpec:
    """Resolve a name such as ``resnet20``, ``resnet56-nores`` or ``cifar-resnet50`` to a spec.

    ``resnet18/34/50/101/152`` are the resnet family, any other 6n+2 depth the cifar family;
    an explicit ``cifar-`` / ``resnet-`` prefix picks the family. ``residual`` and
    ``batchnorm``, when given, override the name's suffixes.
    """
    m = _NAME_RE.match(name.strip()) if isinstance(name, str) else None
    if not m:
        raise ModelSpecError(
            f"Unknown model name {name!r}; expected e.g. resnet18, resnet50, resnet20, resnet56-nores, "
            "or cifar-resnet50 for an explicit family."
        )
    family, depth, suffix = m.group(1), int(m.group(2)), m.group(3)
    family = family or _family_of_depth(depth)
    if family is None:
        raise ModelSpecError(
            f"No family builds depth {depth}: the resnet family has {', '.join(map(str, RESNET_DEPTHS))}, "
            "the cifar family needs 6n+2 (20, 32, 44, 56, 110, ...)."
        )
    tags = [t for t in suffix.split("-") if t]
    return ModelSpec(
        family=family,
        depth=depth,
        residual=("nores" not in tags) if residual is None else residual,
        batchnorm=("nobn" not in tags) if batchnorm is None else batchnorm,
        shortcut="B" if "B" in tags else "A",
        num_classes=num_classes,
        branch_scale="skipinit" if "skipinit" in tags else "none",
        init="fixup" if "fixup" in tags else "fixup-simplified" if "fixupsimple" in tags else "kaiming",
    )
