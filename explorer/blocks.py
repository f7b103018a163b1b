"""Residual blocks, their shortcuts, and block-level access to a net built from them.

A block computes ``out = relu(branch(x) + shortcut(x))`` (residual) or ``relu(branch(x))``
(plain). :class:`BlockAccess` gives a net whose ``stages`` are ``[stem, group1, group2, ...]``
every block's output, branch and shortcut from one pass, and a pass with chosen blocks
deleted, all without hooks.

Block names: ``stem`` is the stem's output, ``s{i}.b{j}`` the j-th block (from 0) of group i
(from 1), so ``s1.b0`` is the first block after the stem. A block's index is its position
in :meth:`BlockAccess.named_blocks` (0 for ``s1.b0``; the stem has no index).

Deleting a block (Veit et al. 2016)
-----------------------------------
A deleted *residual* block loses its branch and keeps its skip path: its output becomes
``relu(shortcut(x))``, the block exactly as it computes with a branch whose output is zero.
With an identity or zero-padding shortcut (option A) the ReLU changes nothing, because the
block's input is itself a ReLU output (>= 0), so the output is the skip path ``x`` (or its
subsampled, zero-padded copy), which is Veit et al.'s ``y_i = y_{i-1}``; with a 1x1
projection shortcut the ReLU is kept, because the block's own computation applies it.
A deleted *plain* block whose input and output shapes match becomes the identity (again
``relu(x) = x``). A plain block that changes the shape (the first block of a group) cannot
be deleted: there is no path that carries its input on, and asking for it raises
:class:`BlockError`.

References
----------
.. [1] K. He, X. Zhang, S. Ren, J. Sun, Deep residual learning for image recognition, CVPR, 2016.
.. [2] A. Veit, M. Wilber, S. Belongie, Residual networks behave like ensembles of relatively
   shallow networks, NeurIPS, 2016.
"""
from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class BlockError(ValueError):
    """A block name or index that does not exist, or a block that cannot be deleted."""


def norm_layer(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


def conv_layer(cin: int, cout: int, k: int, stride: int, batchnorm: bool, scheme: str = "none") -> nn.Conv2d:
    # Without BatchNorm the conv keeps a bias: it replaces BatchNorm's learnable shift. Fixup as
    # published replaces it by scalar biases instead (see BasicBlock).
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not batchnorm and scheme != "fixup")


class ScalarBias(nn.Module):
    """``x + b`` with one learnable scalar ``b`` (init 0): Fixup's bias before the stem's ReLU."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class PadShortcut(nn.Module):
    """Option A: parameter-free shortcut, stride-2 subsampling + zero-padded channels."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        lo = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, lo, self.extra - lo))  # pad channels: (N, C+extra, H, W)


def make_shortcut(cin: int, cout: int, stride: int, residual: bool, batchnorm: bool, option: str,
                  scheme: str = "none") -> nn.Module | None:
    """None for a plain block; identity, option A or a 1x1 projection otherwise."""
    if not residual:
        return None
    if stride == 1 and cin == cout:
        return nn.Identity()
    if option == "A":
        return PadShortcut(cin, cout, stride)
    return nn.Sequential(
        nn.Conv2d(cin, cout, 1, stride=stride, bias=not batchnorm and scheme != "fixup"), norm_layer(cout, batchnorm)
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs on the branch. ``scheme`` ("none" | "skipinit" | "fixup" | "fixup-simplified",
    see models.py) adds the branch's scalar multiplier ``branch_scale`` (init 0 for SkipInit, 1 for
    Fixup) and, for Fixup, the scalar biases ``fixup_bias`` added to the input of each branch conv;
    Fixup as published also adds ``fixup_out``, a scalar bias after each branch conv (after the
    multiplier for the last), its convs carry no bias, and a projecting shortcut takes the input
    with the first scalar bias added (Zhang et al.'s reference code)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, residual: bool, batchnorm: bool, shortcut: str,
                 scheme: str = "none"):
        super().__init__()
        cout = planes * self.expansion
        self.conv1, self.bn1 = conv_layer(cin, planes, 3, stride, batchnorm, scheme), norm_layer(planes, batchnorm)
        self.conv2, self.bn2 = conv_layer(planes, cout, 3, 1, batchnorm, scheme), norm_layer(cout, batchnorm)
        self._finish(cin, cout, stride, residual, batchnorm, shortcut, scheme)

    def _finish(self, cin, cout, stride, residual, batchnorm, shortcut, scheme) -> None:
        self.shortcut = make_shortcut(cin, cout, stride, residual, batchnorm, shortcut, scheme)
        self.keeps_shape = stride == 1 and cin == cout
        self.branch_scale = None if scheme == "none" else nn.Parameter(torch.full((), 0.0 if scheme == "skipinit" else 1.0))
        fixup = scheme in ("fixup", "fixup-simplified")
        self.fixup_bias = nn.Parameter(torch.zeros(len(self.branch_convs))) if fixup else None
        self.fixup_out = nn.Parameter(torch.zeros(len(self.branch_convs))) if scheme == "fixup" else None

    @property
    def branch_convs(self) -> list[nn.Conv2d]:
        return [self.conv1, self.conv2]

    def _in(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """The input of the branch's i-th conv, with Fixup's scalar bias when there is one."""
        return x if self.fixup_bias is None else x + self.fixup_bias[i]

    def _out(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """The output of the branch's i-th conv, with published Fixup's scalar bias when there is one."""
        return x if self.fixup_out is None else x + self.fixup_out[i]

    def _scaled(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.branch_scale is None else out * self.branch_scale

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self._out(self.bn1(self.conv1(self._in(x, 0))), 0))
        return self._out(self._scaled(self.bn2(self.conv2(self._in(out, 1)))), 1)

    def shortcut_path(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut's output; published Fixup feeds a non-identity shortcut ``x`` plus the first scalar bias."""
        if self.fixup_out is not None and not isinstance(self.shortcut, nn.Identity):
            x = self._in(x, 0)
        return self.shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut_path(x)
        return F.relu(out)

    @property
    def shortcut_kind(self) -> str:
        """``identity``, ``pad`` (option A), ``projection`` (1x1 conv) or ``none`` (plain block)."""
        if self.shortcut is None:
            return "none"
        if isinstance(self.shortcut, nn.Identity):
            return "identity"
        return "pad" if isinstance(self.shortcut, PadShortcut) else "projection"

    @property
    def deletable(self) -> bool:
        """A residual block, or a plain block that keeps the shape of its input."""
        return self.shortcut is not None or self.keeps_shape

    def skip(self, x: torch.Tensor) -> torch.Tensor:
        """What is left of the block without its branch, before the ReLU (see the module doc)."""
        if self.shortcut is not None:
            return self.shortcut_path(x)
        if self.keeps_shape:
            return x
        raise BlockError("A plain block that changes the shape of its input cannot be deleted; choose another block.")

    def deleted(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output with its branch deleted: ``relu(skip(x))``."""
        return F.relu(self.skip(x))


class Bottleneck(BasicBlock):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, residual: bool, batchnorm: bool, shortcut: str,
                 scheme: str = "none"):
        nn.Module.__init__(self)
        cout = planes * self.expansion
        self.conv1, self.bn1 = conv_layer(cin, planes, 1, 1, batchnorm, scheme), norm_layer(planes, batchnorm)
        self.conv2, self.bn2 = conv_layer(planes, planes, 3, stride, batchnorm, scheme), norm_layer(planes, batchnorm)
        self.conv3, self.bn3 = conv_layer(planes, cout, 1, 1, batchnorm, scheme), norm_layer(cout, batchnorm)
        self._finish(cin, cout, stride, residual, batchnorm, shortcut, scheme)

    @property
    def branch_convs(self) -> list[nn.Conv2d]:
        return [self.conv1, self.conv2, self.conv3]

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self._out(self.bn1(self.conv1(self._in(x, 0))), 0))
        out = F.relu(self._out(self.bn2(self.conv2(self._in(out, 1))), 1))
        return self._out(self._scaled(self.bn3(self.conv3(self._in(out, 2)))), 2)


class BlockParts(NamedTuple):
    """One block's tensors from one pass, each (N, C, H, W).

    ``branch`` is None for the stem and for a deleted block; ``shortcut`` (the skip path
    before the addition) is None for the stem and for a plain block that was not deleted.
    """

    name: str
    branch: torch.Tensor | None
    shortcut: torch.Tensor | None
    output: torch.Tensor


class BlockAccess:
    """Block-level passes for a module with ``stages = [stem, group1, ...]`` and ``head``."""

    stages: nn.ModuleList  # and a method head((N, C, H, W)) -> (N, classes), both from the net

    def named_blocks(self) -> list[tuple[str, BasicBlock]]:
        """``[("s1.b0", block), ...]`` in forward order (the stem excluded)."""
        return [(f"s{i}.b{j}", block) for i, group in enumerate(self.stages) if i > 0 for j, block in enumerate(group)]

    @property
    def block_names(self) -> list[str]:
        """``["stem", "s1.b0", ...]``: every name :meth:`forward_blocks` returns."""
        return ["stem"] + [name for name, _ in self.named_blocks()]

    def blocks(self) -> list[BasicBlock]:
        """Every block in forward order."""
        return [b for _, b in self.named_blocks()]

    def deletable_blocks(self) -> list[int]:
        """Indices of the blocks that can be deleted."""
        return [i for i, (_, b) in enumerate(self.named_blocks()) if b.deletable]

    def block_indices(self, blocks: Iterable[str | int]) -> frozenset[int]:
        """Block names or indices -> a set of indices of deletable blocks.

        Raises
        ------
        BlockError
            For an unknown name, an index out of range, or a block that cannot be deleted.
        """
        named = self.named_blocks()
        index = {name: i for i, (name, _) in enumerate(named)}
        out = set()
        for b in blocks:
            if isinstance(b, str):
                if b not in index:
                    raise BlockError(f"Unknown block {b!r}; expected a name such as 's1.b0' (the stem stays).")
                i = index[b]
            elif isinstance(b, int) and not isinstance(b, bool) and 0 <= b < len(named):
                i = b
            else:
                raise BlockError(f"A block index must be an integer in 0..{len(named) - 1}, got {b!r}.")
            if not named[i][1].deletable:
                raise BlockError(f"Block {named[i][0]} is a plain block that changes the shape of its input "
                                 "and cannot be deleted; choose another block.")
            out.add(i)
        return frozenset(out)

    def iter_blocks(self, x: torch.Tensor, deleted: Iterable[str | int] = ()) -> Iterator[BlockParts]:
        """Yield the stem's parts, then every block's, from one pass over ``x`` (N, 3, H, W).

        A generator: tensors a caller does not keep are freed as the pass goes on.
        ``deleted`` blocks (names or indices) are computed without their branch.
        """
        gone = self.block_indices(deleted)
        h = self.stages[0](x)
        yield BlockParts("stem", None, None, h)
        for i, (name, block) in enumerate(self.named_blocks()):
            if i in gone:
                skip = block.skip(h)
                h = F.relu(skip)
                yield BlockParts(name, None, skip, h)
                continue
            branch = block.branch(h)
            skip = block.shortcut_path(h) if block.shortcut is not None else None
            h = F.relu(branch if skip is None else branch + skip)
            yield BlockParts(name, branch, skip, h)

    def forward_blocks(self, x: torch.Tensor, deleted: Iterable[str | int] = ()) -> list[tuple[str, torch.Tensor]]:
        """``[("stem", (N, C, H, W)), ("s1.b0", ...), ...]``: every block's output from one pass."""
        return [(p.name, p.output) for p in self.iter_blocks(x, deleted)]

    def forward_from(self, h: torch.Tensor, start: int, deleted: Iterable[str | int] = ()) -> torch.Tensor:
        """Logits from ``h``, the input of block ``start`` (the previous block's or the stem's output).

        Runs blocks ``start, start + 1, ...`` (deleted ones without their branch) and the head;
        so that a lesion can reuse the prefix of a clean pass.
        """
        named = self.named_blocks()
        if not 0 <= start <= len(named):
            raise BlockError(f"The start block must be in 0..{len(named)}, got {start}.")
        gone = self.block_indices(deleted)
        for i in range(start, len(named)):
            block = named[i][1]
            h = block.deleted(h) if i in gone else block(h)
        return self.head(h)

    def forward_lesioned(self, x: torch.Tensor, deleted: Iterable[str | int]) -> torch.Tensor:
        """Logits of the net with the ``deleted`` blocks (names or indices) removed."""
        return self.forward_from(self.stages[0](x), 0, deleted)
