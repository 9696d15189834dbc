"""One pre-LN layer of MuLT's transformer encoder.

Shape legend: ``B`` batch, ``Lq`` query length, ``Lk`` key/value length, ``E`` width.

``x = x + drop(MHA(LN0(x), LN0(kv), LN0(kv)))`` (keys and values use the query's LN0, as the
official code does), then ``x = x + drop(fc2(drop(relu(fc1(LN1(x))))))`` with ``fc1: E -> 4E``.
Names follow the official state dict: ``self_attn``, ``fc1``, ``fc2``, ``layer_norms.{0,1}``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bpmult.nn import fused_feed_forward
from bpmult.nn.attention import MultiheadAttention
from bpmult.nn.dropout import dropout


def mult_linear(in_features: int, out_features: int) -> nn.Linear:
    """``nn.Linear`` with MuLT's initialisation (Xavier-uniform weight, zero bias)."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def take_steps(x: torch.Tensor, steps: tuple[int, ...]) -> torch.Tensor:
    """The ``steps`` of the time axis (``-2``) of ``(..., L, E)``: ``(B, L, E)``, or ``(G, B, L, E)``
    for a group of encoders; a view (no copy, cheap backward) for consecutive steps."""
    first = steps[0]
    if steps == tuple(range(first, first + len(steps))):
        return x.narrow(-2, first, len(steps))
    return x.index_select(-2, torch.tensor(steps, device=x.device))


class FeedForward:
    """MuLT's position-wise feed-forward, shared by every block that has one (the encoder layer and
    the translating layer): a mixin, so the weights keep their names ``fc1``/``fc2`` in checkpoints
    and in the official/authors' name maps."""

    fc1: nn.Linear
    fc2: nn.Linear
    relu_dropout: float
    training: bool

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc2(drop(relu(fc1(x))))``, shapes ``(B, L, E) -> (B, L, E)``."""
        if fused_feed_forward.applies(x, self.fc1, self.fc2):  # CPU: one autograd step, fewer passes
            fc1, fc2 = self.fc1, self.fc2
            out = fused_feed_forward.feed_forward(x.reshape(1, -1, x.shape[-1]), fc1.weight[None], fc1.bias[None],
                                                  fc2.weight[None], fc2.bias[None], p=self.relu_dropout,
                                                  training=self.training)
            return out.view(*x.shape[:-1], fc2.out_features)
        hidden = dropout(F.relu(self.fc1(x)), p=self.relu_dropout, training=self.training)
        return self.fc2(hidden)


class TransformerEncoderLayer(FeedForward, nn.Module):
    """One pre-LN MuLT layer: (cross- or self-) attention, then the feed-forward block.

    Args:
        embed_dim: E.
        num_heads: attention heads; must divide ``embed_dim``.
        attn_dropout: dropout on attention probabilities.
        relu_dropout: dropout after the ReLU of the feed-forward block.
        res_dropout: dropout on each residual branch.
        attn_mask: use MuLT's mask (see :mod:`bpmult.nn.masks`).
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int,
        attn_dropout: float = 0.0,
        relu_dropout: float = 0.0,
        res_dropout: float = 0.0,
        attn_mask: bool = True,
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(embed_dim=embed_dim, num_heads=num_heads, attn_dropout=attn_dropout)
        self.fc1 = mult_linear(embed_dim, 4 * embed_dim)
        self.fc2 = mult_linear(4 * embed_dim, embed_dim)
        self.layer_norms = nn.ModuleList([nn.LayerNorm(embed_dim) for _ in range(2)])
        self.relu_dropout = relu_dropout
        self.res_dropout = res_dropout
        self.attn_mask = attn_mask

    def forward(
        self,
        x: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        query_steps: tuple[int, ...] | None = None,
    ) -> torch.Tensor:
        """One layer.

        Args:
            x: ``(B, Lq, E)``.
            key, value: ``(B, Lk, E)``, or None for self-attention.
            query_steps: compute the output at these steps only (0-based): every row of the
                layer but the attention's keys is independent of the others, so the rows equal
                those of the full output.

        Returns:
            ``(B, Lq, E)``, or ``(B, len(query_steps), E)``.
        """
        norm = self.layer_norms[0]
        rows = x if query_steps is None else take_steps(x, query_steps)
        q = norm(rows)
        if key is None and query_steps is None:
            attended = self.self_attn(q, masked=self.attn_mask)
        else:  # keys and values share the query's LayerNorm (official MuLT)
            if key is None:  # self-attention of some steps: the whole normalised sequence is the keys
                key = value = x
            k = norm(key)
            attended = self.self_attn(q, k, k if value is key else norm(value), masked=self.attn_mask,
                                      query_steps=query_steps, query_len=x.shape[1])
        x = rows + dropout(attended, p=self.res_dropout, training=self.training)
        x = x + dropout(self.feed_forward(self.layer_norms[1](x)), p=self.res_dropout, training=self.training)
        return x
