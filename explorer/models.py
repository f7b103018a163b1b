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

``init="fixup"`` (Zhang et al. 2019, Fixup, as their paper and reference code define it): the
classifier and the last conv of every branch start at zero; the other convs of a branch get the
default initialisation scaled by ``L ** (-1 / (2m - 2))``, with ``L`` the number of residual
branches and ``m`` the convs a branch (``L ** -0.5`` for basic blocks). The convs carry no bias;
instead a scalar bias (init 0) stands before and after every conv of a branch, a scalar multiplier
(init 1) after its last conv and before that conv's bias, a scalar bias before the stem's ReLU and
before the classifier; a shortcut that is not the identity takes the block's input plus the
branch's first scalar bias. The scalar biases, the multipliers and the classifier's bias train at a
tenth of the learning rate (:meth:`ResNet.slow_parameters`). Name suffix ``-fixup``.
Deviations that remain, for one shared recipe across schemes: no weight decay on the scalars (the
reference decays every parameter), no mixup, the zoo's schedule (20 epochs, cosine after a warm-up
epoch, Nesterov momentum; the reference: 200 epochs, rate / 10 at 100 and 150, plain momentum), and
the option-A shortcut pads its zero channels on both sides rather than after (an equivalent net up
to the order of channels); explorer.verdict.fair_batchnorm.DEVIATIONS gives each its reason.

``init="fixup-simplified"``: the zoo's first Fixup, kept so that its runs stay readable: the same
initialisation with per-channel conv biases inside the multiplier, scalar biases before each conv
only, and every parameter at the full learning rate. Name suffix ``-fixupsimple``.

References
----------
.. [1] S. De, S. L. Smith, Batch normalization biases residual blocks towards the identity
   function in deep networks, NeurIPS, 2020.
.. [2] H. Zhang, Y. N. Dauphin, T. Ma, Fixup initialization: residual learning without
   normalization, ICLR, 2019.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (BasicBlock, BlockAccess, BlockError, BlockParts, Bottleneck,  # noqa: F401 (re-exported)
                     PadShortcut, ScalarBias, conv_layer, make_shortcut, norm_layer)
from .spec import (BRANCH_SCALES, CIFAR_DEPTHS, FAMILIES, INITS, MAX_CIFAR_DEPTH, MAX_CLASSES,  # noqa: F401 (re-exported)
                   MIN_CLASSES, RESNET_DEPTHS, RESNET_LAYERS, VARIANT_LABELS, ModelSpec, ModelSpecError,
                   parse_model_name)

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
        fixup = spec.scheme == "fixup"
        stem = nn.Sequential(
            conv_layer(3, stem_width, 3, 1, spec.batchnorm, spec.scheme),
            ScalarBias() if fixup else norm_layer(stem_width, spec.batchnorm), nn.ReLU(inplace=True)
        )
        groups = [self._make_layer(w, n_blocks, 1 if i == 0 else 2) for i, (w, n_blocks) in enumerate(zip(widths, layers))]
        self.stages = nn.ModuleList([stem, *groups])
        self.fc = nn.Linear(self._in, spec.num_classes)
        self.head_bias = nn.Parameter(torch.zeros(1)) if fixup else None  # Fixup's scalar bias before the classifier
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
        if self.spec.scheme in ("fixup", "fixup-simplified"):
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

    def slow_parameters(self) -> list[nn.Parameter]:
        """The parameters that train at a tenth of the learning rate: published Fixup's scalar biases and
        multipliers and the classifier's bias (the reference code's ``bias`` and ``scale`` groups); none otherwise."""
        if self.spec.scheme != "fixup":
            return []
        slow = [self.fc.bias, self.head_bias] + [m.bias for m in self.modules() if isinstance(m, ScalarBias)]
        for b in self.blocks():
            slow += [b.fixup_bias, b.fixup_out, b.branch_scale]
        return slow

    def head(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        if self.head_bias is not None:
            pooled = pooled + self.head_bias
        return self.fc(pooled)  # (N, C, H, W) -> (N, classes)

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
        groups["head"] = list(self.fc.parameters()) + ([self.head_bias] if self.head_bias is not None else [])
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


