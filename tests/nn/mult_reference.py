"""From-scratch transcriptions of the official MuLT semantics (research notes §1), used as test oracles.

Written for clarity, not speed: explicit additive ``-inf`` masks and per-step positions.
"""

import math

import torch
import torch.nn.functional as F

from bpmult.nn.attention import MultiheadAttention
from bpmult.nn.encoder import TransformerEncoder
from bpmult.nn.positional import sinusoidal_table


def reference_attention(mha: MultiheadAttention, q, k, v, masked: bool) -> torch.Tensor:
    """Official MuLT: q scaled after its bias, additive -inf mask, softmax, out_proj; heads batched."""
    E, H = mha.embed_dim, mha.num_heads
    w, b = mha.in_proj_weight, mha.in_proj_bias
    qp = (q @ w[:E].T + b[:E]) * (E // H) ** -0.5
    kp = k @ w[E : 2 * E].T + b[E : 2 * E]
    vp = v @ w[2 * E :].T + b[2 * E :]
    B, lq, lk = q.shape[0], q.shape[1], k.shape[1]
    qh = qp.view(B, lq, H, -1).transpose(1, 2)
    kh = kp.view(B, lk, H, -1).transpose(1, 2)
    vh = vp.view(B, lk, H, -1).transpose(1, 2)
    scores = qh @ kh.transpose(-1, -2)
    if masked:
        future = torch.triu(torch.full((lq, lk), float("-inf")), 1 + abs(lk - lq))
        scores = scores + future
    out = torch.softmax(scores, dim=-1) @ vh
    return mha.out_proj(out.transpose(1, 2).reshape(B, lq, E))


def reference_positions(x_in: torch.Tensor, dim: int) -> torch.Tensor:
    """PE from channel 0: zero where channel 0 == 0, else table[t + 1]."""
    B, L, _ = x_in.shape
    table = sinusoidal_table(L + 1, dim)
    out = torch.zeros(B, L, dim)
    for b in range(B):
        for t in range(L):
            if x_in[b, t, 0] != 0:
                out[b, t] = table[t + 1]
    return out


def reference_encoder(enc: TransformerEncoder, x_in, kv_in=None, masked=True) -> torch.Tensor:
    E = enc.embed_dim
    x = math.sqrt(E) * x_in + reference_positions(x_in, E)
    kv = None if kv_in is None else math.sqrt(E) * kv_in + reference_positions(kv_in, E)
    for layer in enc.layers:
        ln0, ln1 = layer.layer_norms
        q = ln0(x)
        k = q if kv is None else ln0(kv)
        x = x + reference_attention(layer.self_attn, q, k, k, masked)
        x = x + layer.fc2(F.relu(layer.fc1(ln1(x))))
    return enc.layer_norm(x)
