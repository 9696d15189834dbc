"""Sinusoidal positional embedding with MuLT's padding rule (tensor2tensor layout).

Row ``p`` of the table is ``[sin(p w_0) .. sin(p w_{h-1}) | cos(p w_0) .. cos(p w_{h-1})]`` with
``h = dim // 2`` and ``w_k = exp(-k ln(10000) / (h - 1))``; an odd ``dim`` gets a zero last column.
Row 0 is all zeros: it is the padding position.

The positions come from the *unscaled* input's channel 0, as in MuLT's ``make_positions``: a time
step whose channel 0 is exactly zero is padding and gets position 0 (a zero embedding); every other
step ``t`` (0-based) gets position ``t + 1``, even after a hole. The table is a pure function of the
shape, so it is neither learned nor stored in the state dict; the rows a forward pass needs are
built once per (length, width, device, dtype) and cached, as the official module keeps its table.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn


def sinusoidal_table(num_positions: int, dim: int, *, device: torch.device | None = None) -> torch.Tensor:
    """The embedding table, float32, row 0 zero.

    Args:
        num_positions: number of rows (positions ``0 .. num_positions-1``).
        dim: embedding width; at least 4 (the frequency step divides by ``dim // 2 - 1``).

    Returns:
        ``(num_positions, dim)`` float32 tensor.
    """
    half = dim // 2
    if half < 2:
        raise ValueError(f"sinusoidal embedding needs dim >= 4, got dim={dim}")
    step = math.log(10000.0) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * -step)
    angles = torch.arange(num_positions, dtype=torch.float32, device=device)[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2 == 1:
        table = torch.cat([table, torch.zeros(num_positions, 1, device=device)], dim=1)
    table[0] = 0.0
    return table


class SinusoidalPositionalEmbedding(nn.Module):
    """Positional embedding of a batch of sequences, zero at padded steps.

    Args:
        dim: embedding width (the width of the encoder it feeds).
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, channel0: torch.Tensor) -> torch.Tensor:
        """Embed the positions read off channel 0.

        Args:
            channel0: ``(..., L)`` the unscaled input's first feature (``(B, L)``, or
                ``(G, B, L)`` for a group of encoders).

        Returns:
            ``(..., L, dim)`` embedding, in ``channel0``'s dtype.
        """
        rows = _position_rows(channel0.shape[-1], self.dim, channel0.device, channel0.dtype)  # (L, dim)
        # step t has position t + 1 (row t of ``rows``) unless padded, then position 0, a zero row
        return torch.where((channel0 != 0).unsqueeze(-1), rows, 0.0)


@functools.lru_cache(maxsize=256)
def _position_rows(length: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Rows 1..length of the table, ``(length, dim)``, as plain tensors (never inference tensors)."""
    with torch.inference_mode(False), torch.no_grad():
        return sinusoidal_table(length + 1, dim, device=device)[1:].to(dtype)
