"""One parameterised ResNet builder with residual and BatchNorm switches.

Two families share the same blocks and the same `ResNet` class:

* ``resnet``: the torchvision layout (He et al. 2016a, ImageNet) with a CIFAR stem
  (3x3 conv, stride 1, no max-pool). Depths 18/34 use the basic block, 50/101/152 the
  bottleneck; shortcuts are 1x1 projections where the shape changes. Stages:
  stage0 = stem output, stage1..stage4 = the four groups.
* ``cifar``: He et al. 2016a, section 4.2: depth 6n+2, widths 16/32/64, three groups of n
  basic blocks. Shortcut option "A" (parameter-free: stride-2 subsampling and zero-padded
  channels, the paper's default) or "B" (1x1 projection). Stages: stage0..stage3.

Switches
--------
``residual=False`` builds a *plain* net: the blocks have no shortcut module at all and the
stride-2 conv of the first block of a group does the downsampling.

``batchnorm=False`` removes every normalisation layer. What that changes:
the convolutions then carry a bias (initialised to zero) so that each layer keeps a
learnable shift, which BatchNorm's beta provided before; the weight initialisation stays
Kaiming-normal (fan_out, ReLU gain) in both cases, so that the two variants differ only by
the normalisation itself. Without BatchNorm nothing rescales the activations, so deep
residual nets grow their activation variance with depth (each block adds its branch to
the identity); that is part of what the Nbn / Nboth variants are there to show.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

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

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ModelSpecError(f"Unknown model family {self.family!r}; expected one of {', '.join(FAMILIES)}.")
        if not isinstance(self.depth, int) or isinstance(self.depth, bool):
            raise ModelSpecError(f"Depth must be an integer, got {self.depth!r}.")
        if self.family == "resnet" and self.depth not in RESNET_LAYERS:
            raise ModelSpecError(
                f"The resnet family has depths {', '.join(map(str, RESNET_DEPTHS))}; got {self.depth}."
            )
        if self.family == "cifar" and (self.depth < 8 or (self.depth - 2) % 6 != 0):
            raise ModelSpecError(
                f"The cifar family needs a depth of the form 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...); got {self.depth}."
            )
        if self.shortcut not in ("A", "B"):
            raise ModelSpecError(f"Shortcut option must be 'A' or 'B', got {self.shortcut!r}.")
        if self.num_classes < 2:
            raise ModelSpecError(f"A classifier needs at least 2 classes, got {self.num_classes}.")

    @property
    def variant(self) -> str:
        """Seed 001's label: FULL / Nres / Nbn / Nboth."""
        return VARIANT_LABELS[(self.residual, self.batchnorm)]

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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        if not isinstance(d, dict):
            raise ModelSpecError("A model spec must be a JSON object.")
        known = {"family", "depth", "residual", "batchnorm", "shortcut", "num_classes"}
        extra = set(d) - known
        if extra:
            raise ModelSpecError(f"Unknown model spec keys: {', '.join(sorted(extra))}.")
        for key, typ in (("residual", bool), ("batchnorm", bool)):
            if key in d and not isinstance(d[key], typ):
                raise ModelSpecError(f"Model spec key {key!r} must be true or false.")
        if "num_classes" in d and (not isinstance(d["num_classes"], int) or isinstance(d["num_classes"], bool)):
            raise ModelSpecError("Model spec key 'num_classes' must be an integer.")
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


_NAME_RE = re.compile(r"^(?:(resnet|cifar)-)?resnet(\d+)((?:-(?:nores|nobn|B))*)$")


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
    )


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


def _conv(cin: int, cout: int, k: int, stride: int, batchnorm: bool) -> nn.Conv2d:
    # Without BatchNorm the conv keeps a bias: it replaces BatchNorm's learnable shift.
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not batchnorm)


class PadShortcut(nn.Module):
    """Option A: parameter-free shortcut, stride-2 subsampling + zero-padded channels."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        lo = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, lo, self.extra - lo))  # pad channels: (N, C+extra, H, W)


def _make_shortcut(cin: int, cout: int, stride: int, residual: bool, batchnorm: bool, option: str) -> nn.Module | None:
    """None for a plain block; identity, option A or a 1x1 projection otherwise."""
    if not residual:
        return None
    if stride == 1 and cin == cout:
        return nn.Identity()
    if option == "A":
        return PadShortcut(cin, cout, stride)
    return nn.Sequential(
        nn.Conv2d(cin, cout, 1, stride=stride, bias=not batchnorm), _norm(cout, batchnorm)
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, residual: bool, batchnorm: bool, shortcut: str):
        super().__init__()
        cout = planes * self.expansion
        self.conv1, self.bn1 = _conv(cin, planes, 3, stride, batchnorm), _norm(planes, batchnorm)
        self.conv2, self.bn2 = _conv(planes, cout, 3, 1, batchnorm), _norm(cout, batchnorm)
        self.shortcut = _make_shortcut(cin, cout, stride, residual, batchnorm, shortcut)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.conv2


class Bottleneck(BasicBlock):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, residual: bool, batchnorm: bool, shortcut: str):
        nn.Module.__init__(self)
        cout = planes * self.expansion
        self.conv1, self.bn1 = _conv(cin, planes, 1, 1, batchnorm), _norm(planes, batchnorm)
        self.conv2, self.bn2 = _conv(planes, planes, 3, stride, batchnorm), _norm(planes, batchnorm)
        self.conv3, self.bn3 = _conv(planes, cout, 1, 1, batchnorm), _norm(cout, batchnorm)
        self.shortcut = _make_shortcut(cin, cout, stride, residual, batchnorm, shortcut)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.conv3


class ResNet(nn.Module):
    """Stem + groups of blocks + global-average-pool + linear head.

    ``self.stages[0]`` is the stem, ``self.stages[i]`` (i >= 1) the i-th group.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        if spec.family == "resnet":
            kind, layers = RESNET_LAYERS[spec.depth]
            block, widths, stem_width = (BasicBlock if kind == "basic" else Bottleneck), (64, 128, 256, 512), 64
            shortcut = "B"  # torchvision: projection where the shape changes
        else:
            n = (spec.depth - 2) // 6
            block, layers, widths, stem_width, shortcut = BasicBlock, (n, n, n), (16, 32, 64), 16, spec.shortcut
        self._block, self._shortcut, self._in = block, shortcut, stem_width
        stem = nn.Sequential(
            _conv(3, stem_width, 3, 1, spec.batchnorm), _norm(stem_width, spec.batchnorm), nn.ReLU(inplace=True)
        )
        groups = [self._make_layer(w, n_blocks, 1 if i == 0 else 2) for i, (w, n_blocks) in enumerate(zip(widths, layers))]
        self.stages = nn.ModuleList([stem, *groups])
        self.fc = nn.Linear(self._in, spec.num_classes)
        self._init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(self._block(self._in, planes, s, self.spec.residual, self.spec.batchnorm, self._shortcut))
            self._in = planes * self._block.expansion
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def stage_names(self) -> list[str]:
        return self.spec.stage_names

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))  # (N, C, H, W) -> (N, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return self.head(x)

    def forward_stages(self, x: torch.Tensor, stages: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Every stage's output from one forward pass: {"stage0": (N, C, H, W), ...}.

        With ``stages`` given, only those are returned and the pass stops after the last.
        """
        wanted = set(self.stage_names if stages is None else stages)
        unknown = wanted - set(self.stage_names)
        if unknown:
            raise ValueError(f"Unknown stages {sorted(unknown)}; this model has {self.stage_names}.")
        out: dict[str, torch.Tensor] = {}
        for name, stage in zip(self.stage_names, self.stages):
            x = stage(x)
            if name in wanted:
                out[name] = x
            if len(out) == len(wanted):
                break
        return out

    def stage_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by stage (stage0..stageN) plus ``head`` (the classifier)."""
        groups = {name: list(stage.parameters()) for name, stage in zip(self.stage_names, self.stages)}
        groups["head"] = list(self.fc.parameters())
        return groups

    def blocks(self) -> list[BasicBlock]:
        return [m for m in self.modules() if isinstance(m, BasicBlock)]


def build_model(spec: ModelSpec | str, **overrides) -> ResNet:
    """Build a model from a spec or a name (``build_model("resnet56", residual=False)``)."""
    if isinstance(spec, str):
        spec = parse_model_name(spec, **overrides)
    elif overrides:
        spec = ModelSpec(**{**spec.to_dict(), **overrides})
    return ResNet(spec)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


