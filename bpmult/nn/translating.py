"""The "translating" level-2 layer of the BPMuLT-translating ablation (paper Fig. 10-11).

Shape legend: ``B`` batch, ``Lq`` query length, ``Lk`` key/value length, ``E`` width.

Like a transformer decoder layer, the query first attends to itself and is then normalised before
attending to the other sequence:

1. ``x = x + drop(SA(LN0(x)))``                      self-attention over the query (square mask);
2. ``x = x + drop(CA(LN1(x), LN1(kv), LN1(kv)))``    cross-attention, keys/values share LN1;
3. ``x = x + drop(FFN(LN2(x)))``                     MuLT's feed-forward block.

The authors' code (``biprojection=True``) reuses one attention module for steps 1 and 2
(``shared_attention=True``) and does not normalise the query in step 2 (``query_norm=False``);
the paper's figure shows a separate self-attention followed by a normalisation layer, which is
``shared_attention=False, query_norm=True``. The cross-attention is named ``self_attn`` like every
MuLT attention; an unshared self-attention step is ``query_self_attn``.
"""

from __future__ import annotations

import torch
from torch import nn

from bpmult.nn.attention import MultiheadAttention
from bpmult.nn.dropout import dropout
from bpmult.nn.layer import FeedForward, mult_linear, take_steps


class TranslatingLayer(FeedForward, nn.Module):
    """Self-attention over the query, then cross-attention, then the feed-forward block.

    Args:
        embed_dim: E.
        num_heads: attention heads; must divide ``embed_dim``.
        attn_dropout: dropout on attention probabilities.
        relu_dropout: dropout after the feed-forward ReLU.
        res_dropout: dropout on each residual branch.
        attn_mask: MuLT's mask in both attentions (causal in the square self-attention).
        shared_attention: one attention module for both steps (authors' code).
        query_norm: normalise the query with LN1 before the cross-attention (paper figure).
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
        shared_attention: bool = False,
        query_norm: bool = True,
    ) -> None:
        super().__init__()
        attention = dict(embed_dim=embed_dim, num_heads=num_heads, attn_dropout=attn_dropout)
        self.self_attn = MultiheadAttention(**attention)
        if not shared_attention:
            self.query_self_attn = MultiheadAttention(**attention)
        self.fc1 = mult_linear(embed_dim, 4 * embed_dim)
        self.fc2 = mult_linear(4 * embed_dim, embed_dim)
        self.layer_norms = nn.ModuleList([nn.LayerNorm(embed_dim) for _ in range(3)])
        self.shared_attention = shared_attention
        self.query_norm = query_norm
        self.relu_dropout = relu_dropout
        self.res_dropout = res_dropout
        self.attn_mask = attn_mask

    def _residual(self, x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        return x + dropout(branch, p=self.res_dropout, training=self.training)

    def forward(
        self,
        x: torch.Tensor,
        key: torch.Tensor | None,
        value: torch.Tensor | None,
        *,
        query_steps: tuple[int, ...] | None = None,
    ) -> torch.Tensor:
        """Args: x ``(B, Lq, E)``; key, value ``(B, Lk, E)``; query_steps: compute only these output
        steps (see :class:`bpmult.nn.TransformerEncoderLayer`). Returns ``(B, Lq or len(steps), E)``."""
        if key is None or value is None:
            raise ValueError("a translating layer needs keys and values")
        self_attention = self.self_attn if self.shared_attention else self.query_self_attn
        steps = dict(query_steps=query_steps, query_len=x.shape[1])
        if query_steps is None:
            x = self._residual(x, self_attention(self.layer_norms[0](x), masked=self.attn_mask))
        else:  # the chosen steps attend to the whole normalised query sequence
            whole = self.layer_norms[0](x)
            rows = take_steps(x, query_steps)
            x = self._residual(rows, self_attention(self.layer_norms[0](rows), whole, whole,
                                                    masked=self.attn_mask, **steps))
        norm = self.layer_norms[1]
        query = norm(x) if self.query_norm else x
        k = norm(key)
        x = self._residual(x, self.self_attn(query, k, k if value is key else norm(value),
                                             masked=self.attn_mask, **steps))
        return self._residual(x, self.feed_forward(self.layer_norms[2](x)))
