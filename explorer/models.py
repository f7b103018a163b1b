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

Two published ways to train a residual net without normalisation, for the no-BN residual
variants only (they replace BatchNorm, so a spec asking for them with BatchNorm or without
shortcuts is refused):

``branch_scale="skipinit"`` (De & Smith 2020, SkipInit): each residual branch ends in a
learnable scalar initialised to 0, so every block starts as the identity
(``out = relu(alpha * branch(x) + shortcut(x))``); name suffix ``-skipinit``.

``init="fixup"`` (Zhang et al. 2019, Fixup): the classifier and the last conv of every branch
start at zero; the other convs of a branch get the default initialisation scaled by
``L ** (-1 / (2m - 2))``, with ``L`` the number of residual branches and ``m`` the convs a
branch (``L ** -0.5`` for basic blocks); each branch gets a scalar multiplier (init 1) and a
scalar bias (init 0) before each of its convs. The biases Fixup puts after each conv are the
per-channel conv biases that every no-BN conv here already carries; name suffix ``-fixup``.

References
----------
.. [1] S. De, S. L. Smith, Batch normalization biases residual blocks towards the identity
   function in deep networks, NeurIPS, 2020.
.. [2] H. Zhang, Y. N. Dauphin, T. Ma, Fixup initialization: residual learning without
   normalization, ICLR, 2019.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (BasicBlock, BlockAccess, BlockError, BlockParts, Bottleneck,  # noqa: F401 (re-exported)
                     PadShortcut, _conv, _make_shortcut, _norm)

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
INITS = ("kaiming", "fixup")
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
        """``none``, ``skipinit`` or ``fixup``: how a no-BN residual net is made trainable."""
        return "skipinit" if self.branch_scale == "skipinit" else "fixup" if self.init == "fixup" else "none"

    @property
    def scheme_label(self) -> str:
        return {"none": "", "skipinit": "SkipInit", "fixup": "Fixup"}[self.scheme]

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
            parts.append(self.scheme)
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


_NAME_RE = re.compile(r"^(?:(resnet|cifar)-)?resnet(\d+)((?:-(?:nores|nobn|B|skipinit|fixup))*)$")


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
        init="fixup" if "fixup" in tags else "kaiming",
    )


class ResNet(BlockAccess, nn.Module):
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
            layers.append(self._block(self._in, planes, s, self.spec.residual, self.spec.batchnorm, self._shortcut,
                                      self.spec.scheme))
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
        if self.spec.init == "fixup":
            self._fixup()

    @torch.no_grad()
    def _fixup(self) -> None:
        """Zhang et al.'s rule (see the module doc): scale the branch convs, zero the last ones and the head."""
        blocks = self.blocks()
        for block in blocks:
            convs = block.branch_convs
            for conv in convs[:-1]:
                conv.weight.mul_(len(blocks) ** (-1.0 / (2 * len(convs) - 2)))
            nn.init.zeros_(convs[-1].weight)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

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


def build_model(spec: ModelSpec | str, **overrides) -> ResNet:
    """Build a model from a spec or a name (``build_model("resnet56", residual=False)``)."""
    if isinstance(spec, str):
        spec = parse_model_name(spec, **overrides)
    elif overrides:
        spec = ModelSpec(**{**spec.to_dict(), **overrides})
    return ResNet(spec)


def init_model(spec: ModelSpec | str, seed: int) -> ResNet:
    """The initial weights of a run with this spec and seed, bit for bit what the trainer built.

    Seeds torch's global generator and builds, as a run starts (``runner.execute`` calls this),
    leaving the generator where training goes on; ``torch.random.fork_rng()`` keeps a caller's.
    """
    torch.manual_seed(seed)  # initialisation
    return build_model(spec)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


