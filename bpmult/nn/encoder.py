"""MuLT's transformer encoder: crossmodal (query attends to another sequence) or self-attention.

Shape legend: ``B`` batch, ``Lq`` query length, ``Lk`` key/value length, ``E`` width.

The forward pass reproduces the official MuLT ``TransformerEncoder`` numerically (pre-LN):

1. ``x = sqrt(E) * x_in + PE(x_in[..., 0])``, then embedding dropout; keys and values alike, each
   with its *own* dropout call (so in training they see different masks);
2. per layer ``x = x + drop(MHA(LN0(x), LN0(kv), LN0(kv)))`` (keys/values use the query's LN0), then
   ``x = x + drop(fc2(drop(relu(fc1(LN1(x))))))`` with ``fc1: E -> 4E``;
3. a final LayerNorm.

Sub-module names follow the official state dict (``layers.{i}.self_attn``, ``fc1``, ``fc2``,
``layer_norms.{0,1}``, ``layer_norm``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from bpmult.nn.dropout import dropout
from bpmult.nn.layer import TransformerEncoderLayer
from bpmult.nn.positional import SinusoidalPositionalEmbedding
from bpmult.nn.translating import TranslatingLayer


class TransformerEncoder(nn.Module):
    """A stack of MuLT layers with input scaling, positional embedding and a final LayerNorm.

    Args:
        embed_dim: E, width of the input and output.
        num_heads: attention heads.
        layers: number of layers (D).
        attn_dropout, relu_dropout, res_dropout: see :class:`TransformerEncoderLayer`.
        embed_dropout: dropout after adding the positional embedding (query and keys/values).
        attn_mask: use MuLT's mask in every attention.
        layer_type: ``"mult"`` (cross-attention, or self-attention without keys) or
            ``"translating"`` (self-attention over the query, then cross-attention; see
            :class:`bpmult.nn.translating.TranslatingLayer`).
        shared_attention: translating layers only: reuse one attention for both steps.
        query_norm: translating layers only: normalise the query before the cross-attention.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int,
        layers: int,
        attn_dropout: float = 0.0,
        relu_dropout: float = 0.0,
        res_dropout: float = 0.0,
        embed_dropout: float = 0.0,
        attn_mask: bool = True,
        layer_type: Literal["mult", "translating"] = "mult",
        shared_attention: bool = False,
        query_norm: bool = True,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"an encoder needs at least 1 layer, got {layers}")
        common = dict(
            embed_dim=embed_dim, num_heads=num_heads, attn_dropout=attn_dropout,
            relu_dropout=relu_dropout, res_dropout=res_dropout, attn_mask=attn_mask,
        )
        if layer_type == "mult":
            stack = [TransformerEncoderLayer(**common) for _ in range(layers)]
        elif layer_type == "translating":
            stack = [
                TranslatingLayer(**common, shared_attention=shared_attention, query_norm=query_norm)
                for _ in range(layers)
            ]
        else:
            raise ValueError(f"layer_type must be 'mult' or 'translating', got {layer_type!r}")
        self.layer_type = layer_type
        self.embed_dim = embed_dim
        self.embed_scale = math.sqrt(embed_dim)
        self.embed_positions = SinusoidalPositionalEmbedding(dim=embed_dim)
        self.embed_dropout = embed_dropout
        self.layers = nn.ModuleList(stack)
        self.layer_norm = nn.LayerNorm(embed_dim)

    def _scaled_with_positions(self, x_in: torch.Tensor) -> torch.Tensor:
        """``sqrt(E) x_in + PE(x_in[..., 0])``; ``(B, L, E) -> (B, L, E)``, contiguous.

        A transposed input (a Conv1d projection's ``(B, E, L)`` output seen as ``(B, L, E)``) would
        make every later elementwise result transposed too, and each LayerNorm and linear of every
        layer copy it; one copy here instead.
        """
        x_in = x_in.contiguous()
        return self.embed_scale * x_in + self.embed_positions(x_in[..., 0])

    def _embed_dropout(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, p=self.embed_dropout, training=self.training)

    def forward(
        self,
        x_in: torch.Tensor,
        kv_in: torch.Tensor | None = None,
        *,
        output_steps: tuple[int, ...] | None = None,
    ) -> torch.Tensor:
        """Encode ``x_in``, attending to ``kv_in`` when given.

        Args:
            x_in: ``(B, Lq, E)`` query sequence.
            kv_in: ``(B, Lk, E)`` key/value sequence, or None for self-attention.
            output_steps: return only these steps (Python indices, ``-1`` the last), for a caller
                that reads a token: the last layer then computes those rows alone (they equal
                the rows of the full output; the other layers are computed in full).

        Returns:
            ``(B, Lq, E)``, or ``(B, len(output_steps), E)`` in the order given.
        """
        if x_in.shape[-1] != self.embed_dim or (kv_in is not None and kv_in.shape[-1] != self.embed_dim):
            raise ValueError(
                f"encoder of width {self.embed_dim} got query width {x_in.shape[-1]}"
                + ("" if kv_in is None else f" and key width {kv_in.shape[-1]}")
            )
        if self.layer_type == "translating" and kv_in is None:
            raise ValueError("a translating encoder needs a key/value sequence")
        steps = None if output_steps is None else normalise_steps(output_steps, x_in.shape[1])
        x = self._embed_dropout(self._scaled_with_positions(x_in))
        key = value = None
        if kv_in is not None:  # separate dropout calls for keys and values, as the official encoder does
            kv = self._scaled_with_positions(kv_in)
            key, value = self._embed_dropout(kv), self._embed_dropout(kv)  # the same tensor when not dropping
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, key, value, query_steps=steps if i == last else None)
        return self.layer_norm(x)


def normalise_steps(steps: tuple[int, ...], length: int) -> tuple[int, ...]:
    """Python indices into a length-``length`` axis as 0-based steps; out of range raises ``ValueError``."""
    if not steps or any(not -length <= s < length for s in steps):
        raise ValueError(f"output_steps {tuple(steps)} must be non-empty indices of a length-{length} sequence")
    return tuple(s % length for s in steps)
