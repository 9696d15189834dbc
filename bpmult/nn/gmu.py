"""Gated multimodal units (Arevalo et al. 2017): the k-way GMU and the original bimodal GMU.

Shape legend: ``*`` any leading axes (batch, or batch and time), ``k`` inputs, ``W`` output width.

k-way GMU (paper eq. 23; MuLT-GMU's and the authors' ``TextShifting*Layer``)::

    h_i = tanh(W_i x_i),   z_i = sigmoid(W_z^i [x_1, ..., x_k]),   h = sum_i z_i * h_i

The gates are independent sigmoids (they do not sum to 1). All linears are bias-free, as in
MuLT-GMU and the authors' code. The bimodal GMU of Arevalo et al. has one gate ``z`` and its
complement: ``h = z * h_1 + (1 - z) * h_2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn


class GatedOutput(NamedTuple):
    """What a gated unit returns.

    Attributes:
        fused: ``(*, W)`` the fused vector.
        gates: the gate values ``z``: ``(*, k, W)`` per input, or ``(*, W)`` for a two-input
            unit with one gate and its complement.
        parts: ``(*, k, W)`` each input's contribution to ``fused`` (they sum to it).
    """

    fused: torch.Tensor
    gates: torch.Tensor
    parts: torch.Tensor


class GMU(nn.Module):
    """k-way gated multimodal unit with one independent sigmoid gate per input (eq. 23).

    Args:
        in_dims: width of each input ``x_i``.
        out_dim: W, the width of ``h`` (the number of classes in the paper's final GMU).
    """

    def __init__(self, *, in_dims: Sequence[int], out_dim: int) -> None:
        super().__init__()
        if len(in_dims) < 2:
            raise ValueError(f"a GMU fuses at least 2 inputs, got {len(in_dims)}")
        self.in_dims = tuple(in_dims)
        self.out_dim = out_dim
        self.hidden = nn.ModuleList([nn.Linear(d, out_dim, bias=False) for d in in_dims])  # W_i
        self.gate = nn.Linear(sum(in_dims), len(in_dims) * out_dim, bias=False)  # rows [W_z^1; ..; W_z^k]

    def forward(self, xs: Sequence[torch.Tensor]) -> GatedOutput:
        """Fuse ``xs``.

        Args:
            xs: k tensors ``(*, in_dims[i])``.

        Returns:
            :class:`GatedOutput` with ``fused (*, W)``, ``gates (*, k, W)``, ``parts (*, k, W)``.
        """
        if len(xs) != len(self.hidden):
            raise ValueError(f"GMU built for {len(self.hidden)} inputs got {len(xs)}")
        h = torch.stack([torch.tanh(w(x)) for w, x in zip(self.hidden, xs)], dim=-2)  # (*, k, W)
        z = torch.sigmoid(self.gate(torch.cat(list(xs), dim=-1))).unflatten(-1, (len(xs), self.out_dim))
        parts = z * h
        return GatedOutput(fused=parts.sum(dim=-2), gates=z, parts=parts)


class BimodalGMU(nn.Module):
    """The original two-input GMU of Arevalo et al. (2017): ``h = z h_1 + (1 - z) h_2``.

    Args:
        in_dims: widths of the two inputs.
        out_dim: W.
    """

    def __init__(self, *, in_dims: Sequence[int], out_dim: int) -> None:
        super().__init__()
        if len(in_dims) != 2:
            raise ValueError(f"a bimodal GMU fuses exactly 2 inputs, got {len(in_dims)}")
        self.hidden = nn.ModuleList([nn.Linear(d, out_dim, bias=False) for d in in_dims])
        self.gate = nn.Linear(sum(in_dims), out_dim, bias=False)

    def forward(self, xs: Sequence[torch.Tensor]) -> GatedOutput:
        """Args: xs two tensors ``(*, in_dims[i])``. Returns gates ``(*, 2, W)`` = ``[z, 1 - z]``."""
        x1, x2 = xs
        z = torch.sigmoid(self.gate(torch.cat([x1, x2], dim=-1)))
        gates = torch.stack([z, 1 - z], dim=-2)
        h = torch.stack([torch.tanh(self.hidden[0](x1)), torch.tanh(self.hidden[1](x2))], dim=-2)
        parts = gates * h
        return GatedOutput(fused=parts.sum(dim=-2), gates=gates, parts=parts)
