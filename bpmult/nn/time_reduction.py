"""Time reduction of the simple parallel branch (paper eq. 13) and fitting sequences to a length.

Shape legend: ``B`` batch, ``S`` fixed input length ``S_M``, ``T`` reduced length (32), ``d`` width.

``X_hat = W_m X_bar`` with a learnable ``W_m`` of shape ``(T, S)``: every reduced step is a learned
mixture of the input steps (the authors' ``Linear(num_vectors -> 32, bias=False)`` over time).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad at the end or truncate ``x`` along time to ``length`` steps.

    Args:
        x: ``(B, L, d)``.
        length: the wanted L.

    Returns:
        ``(B, length, d)``; ``x`` itself when it already has that length.
    """
    current = x.shape[1]
    if current == length:
        return x
    if current > length:
        return x[:, :length]
    return F.pad(x, (0, 0, 0, length - current))


class TimeReduction(nn.Module):
    """``X_hat = W_m X_bar`` (eq. 13), after fitting the input to ``in_len`` steps.

    Args:
        in_len: S_M, the fixed input length (inputs are zero-padded or truncated to it).
        out_len: the reduced length (32 in the paper).
    """

    def __init__(self, *, in_len: int, out_len: int) -> None:
        super().__init__()
        self.in_len = in_len
        self.out_len = out_len
        self.weight = nn.Parameter(torch.empty(out_len, in_len))  # W_m
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's default, as the authors' Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, L, d)``. Returns ``(B, out_len, d)``."""
        return torch.einsum("ts,bsd->btd", self.weight, fit_length(x, self.in_len))
