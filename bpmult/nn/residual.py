"""The residual block before the prediction (paper eq. 24; MuLT's ``proj1``/``proj2`` head).

Shape legend: ``B`` batch, ``W`` width.

``O_f = W_f1 dropout(ReLU(W_f2 O)) + O``. The linears carry biases, as MuLT's ``proj1``/``proj2``;
``proj1`` is the paper's ``W_f2`` (applied first) and ``proj2`` is ``W_f1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bpmult.nn.dropout import dropout


class ResidualBlock(nn.Module):
    """``proj2(dropout(relu(proj1(x)))) + x`` (eq. 24).

    Args:
        dim: W, the width of input and output.
        dropout: dropout after the ReLU (MuLT's ``out_dropout``).
    """

    def __init__(self, *, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj1 = nn.Linear(dim, dim)  # W_f2
        self.proj2 = nn.Linear(dim, dim)  # W_f1
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, W)``. Returns ``(B, W)``."""
        hidden = dropout(F.relu(self.proj1(x)), p=self.dropout, training=self.training)
        return self.proj2(hidden) + x
