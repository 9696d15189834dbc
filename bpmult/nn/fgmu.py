"""Fusion GMUs (FGMU) of the paper: a GMU whose hidden activations are multiplied by their inputs.

Shape legend: ``*`` any leading axes (batch, or batch and time), ``d`` width, ``k`` inputs.

FGMU (eq. 9-12, Fig. 1), two inputs of width d::

    h_v = tanh(W_v x_v),  h_t = tanh(W_t x_t),  z = sigmoid(W_z [x_v, x_t]),
    H = z * h_v * x_v + (1 - z) * h_t * x_t

Extended FGMU (eq. 20-22, Fig. 3), k inputs of width d, independent gates::

    h_i = tanh(W_i x_i),  z_i = sigmoid(W_z^i [x_1, ..., x_k]),  H = sum_i z_i * h_i * x_i

The products with the raw inputs (the paper's "residual" blue lines) require equal widths.
Linears are bias-free, as in the authors' ``GatedMultimodalLayerFeatures``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bpmult.nn.gmu import GatedOutput


class FusionGMU(nn.Module):
    """Two-input FGMU (eq. 9-12).

    Args:
        dim: d, the width of both inputs and of the output.
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.hidden = nn.ModuleList([nn.Linear(dim, dim, bias=False) for _ in range(2)])  # W_v, W_t
        self.gate = nn.Linear(2 * dim, dim, bias=False)  # W_z

    def forward(self, xs: Sequence[torch.Tensor]) -> GatedOutput:
        """Fuse ``[x_v, x_t]``.

        Args:
            xs: two tensors ``(*, d)``.

        Returns:
            :class:`GatedOutput`: ``fused (*, d)``, ``gates`` = z ``(*, d)``, ``parts (*, 2, d)``.
        """
        x_v, x_t = xs
        z = torch.sigmoid(self.gate(torch.cat([x_v, x_t], dim=-1)))  # eq. 11
        part_v = z * torch.tanh(self.hidden[0](x_v)) * x_v  # eq. 9 and 12
        part_t = (1 - z) * torch.tanh(self.hidden[1](x_t)) * x_t  # eq. 10 and 12
        return GatedOutput(fused=part_v + part_t, gates=z, parts=torch.stack([part_v, part_t], dim=-2))


class ExtendedFusionGMU(nn.Module):
    """k-input FGMU (eq. 20-22), fusing the parallel branch's tokens.

    Args:
        dim: d, the width of every input and of the output.
        num_inputs: k.
    """

    def __init__(self, *, dim: int, num_inputs: int) -> None:
        super().__init__()
        if num_inputs < 2:
            raise ValueError(f"an extended FGMU fuses at least 2 inputs, got {num_inputs}")
        self.dim = dim
        self.num_inputs = num_inputs
        self.hidden = nn.ModuleList([nn.Linear(dim, dim, bias=False) for _ in range(num_inputs)])  # W_i
        self.gate = nn.Linear(num_inputs * dim, num_inputs * dim, bias=False)  # rows [W_z^1; ..; W_z^k]

    def forward(self, xs: Sequence[torch.Tensor]) -> GatedOutput:
        """Fuse ``xs``.

        Args:
            xs: k tensors ``(*, d)``.

        Returns:
            :class:`GatedOutput`: ``fused (*, d)``, ``gates (*, k, d)``, ``parts (*, k, d)``.
        """
        if len(xs) != self.num_inputs:
            raise ValueError(f"extended FGMU built for {self.num_inputs} inputs got {len(xs)}")
        x = torch.stack(list(xs), dim=-2)  # (*, k, d)
        h = torch.stack([torch.tanh(w(xi)) for w, xi in zip(self.hidden, xs)], dim=-2)  # eq. 20
        z = torch.sigmoid(self.gate(torch.cat(list(xs), dim=-1))).unflatten(-1, (self.num_inputs, self.dim))  # eq. 21
        parts = z * h * x  # eq. 22
        return GatedOutput(fused=parts.sum(dim=-2), gates=z, parts=parts)
