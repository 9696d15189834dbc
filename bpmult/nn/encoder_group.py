"""Several MuLT encoders of one shape, run as one batched computation.

Shape legend: ``G`` encoders in a group, ``B`` batch, ``Lq``/``Lk`` query/key lengths, ``E``
width, ``H`` heads, ``Dh = E / H``.

MuLT runs six crossmodal encoders side by side (then three memory encoders), BPMuLT six more
biprojections and three parallel encoders. They share width, depth, heads and, often, lengths. At
MuLT's own sizes (d 30, 20 steps) each operator of an encoder works on a few thousand numbers, so
a training step costs mostly per operator (dispatch, autograd bookkeeping), not per number.
:func:`run_encoders` puts encoders with the same settings and the same input shapes into one group
and computes the group's layers with batched products (``baddbmm`` / ``bmm`` over a leading ``G``
axis): the operator count of a layer no longer grows with the number of encoders.

Each encoder keeps its own parameters (names, state dict, optimiser, DistributedDataParallel's
gradient hooks are untouched): a group stacks its members' weights per forward (``torch.stack``,
whose backward hands each parameter a view of its gradient). The math is
:class:`~bpmult.nn.TransformerEncoder`'s, step for step (pre-LN layers, keys and values through
the query's LN0, the final LayerNorm); only the dropout masks are drawn as one call per group.
Members may differ in attention dropout (MuLT's depends on the key modality): the probabilities
are dropped per run of equal ``p``. Encoders that cannot be grouped (translating layers, a single
member, different shapes, more than :data:`MAX_GROUP_PARAMETERS` weights, forward hooks) run their
own forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from bpmult.nn import fused_attention, fused_feed_forward
from bpmult.nn.attention import own_training_attention
from bpmult.nn.dropout import dropout
from bpmult.nn.encoder import TransformerEncoder, normalise_steps
from bpmult.nn.layer import take_steps
from bpmult.nn.hooks import forward_hooked
from bpmult.nn.masks import additive_bias, sdpa_mask
from bpmult.nn.scores import attention_probabilities


# A member with more weights in its layers' matrices (12 E^2 per layer) runs alone: its operators are large enough that dispatch does not
# matter, and stacking its weights per step would cost time and memory (BPMuLT at the paper's
# Moviescope shape, d 768, whose three parallel encoders would group: one CPU step 71 -> 81 s,
# peak memory 21.2 -> 23.7 GB). MuLT's encoders at d 30 have 43,000-130,000 weights.
MAX_GROUP_PARAMETERS = 2**20


def run_encoders(
    encoders: Sequence[TransformerEncoder],
    queries: Sequence[torch.Tensor],
    keys: Sequence[torch.Tensor | None] | None = None,
    *,
    output_steps: Sequence[tuple[int, ...] | None] | None = None,
) -> list[torch.Tensor]:
    """``[enc(q, kv, output_steps=s) for enc, q, kv, s in zip(...)]``, batched where shapes agree.

    Args:
        encoders: the encoders.
        queries: one ``(B, Lq, E)`` query sequence per encoder.
        keys: one ``(B, Lk, E)`` key/value sequence (or None: self-attention) per encoder;
            None for all self-attention.
        output_steps: per encoder, the steps to return (see :meth:`TransformerEncoder.forward`)
            or None for all; None: all steps of every encoder.

    Returns:
        The outputs, in the encoders' order.
    """
    n = len(encoders)
    keys = [None] * n if keys is None else list(keys)
    steps = [None] * n if output_steps is None else list(output_steps)
    if not n == len(queries) == len(keys) == len(steps):
        raise ValueError(f"{n} encoders got {len(queries)} queries, {len(keys)} keys and {len(steps)} output_steps")
    by_shape: dict[tuple, list[int]] = {}  # the cheap test first: most calls group nothing
    for i in range(n):
        by_shape.setdefault(_shape_key(queries[i], keys[i], steps[i], i), []).append(i)
    groups: dict[tuple, list[int]] = {}
    for same_shape in by_shape.values():
        for i in same_shape:
            key = ("alone", i) if len(same_shape) == 1 else _settings_key(encoders[i], i)
            groups.setdefault((same_shape[0], key), []).append(i)
    outputs: list[torch.Tensor | None] = [None] * n
    for members in groups.values():
        if len(members) == 1:
            i = members[0]
            outputs[i] = encoders[i](queries[i], keys[i], output_steps=steps[i])
            continue
        # equal attention dropouts side by side: the probabilities are dropped per run of equal p
        members.sort(key=lambda i: encoders[i].layers[0].self_attn.attn_dropout)
        grouped = _run_group([encoders[i] for i in members], [queries[i] for i in members],
                             [keys[i] for i in members], output_steps=steps[members[0]])
        for i, out in zip(members, grouped):
            outputs[i] = out
    return outputs  # type: ignore[return-value]


def _shape_key(query: torch.Tensor, key: torch.Tensor | None, steps: tuple[int, ...] | None,
               index: int) -> tuple:
    """Inputs with equal keys have the same shapes, dtypes, devices and output steps."""
    if query.ndim != 3:
        return ("alone", index)
    inputs = (tuple(query.shape), query.dtype, query.device,
              None if key is None else (tuple(key.shape), key.dtype, key.device))
    if steps is not None:  # as the encoder reads them (a bad index raises there, in its own forward)
        length = query.shape[1]
        if not steps or any(not -length <= s < length for s in steps):
            return ("alone", index)
        steps = tuple(s % length for s in steps)
    return ("inputs", inputs, steps)


def _settings_key(encoder: TransformerEncoder, index: int) -> tuple:
    """Encoders with equal keys (and inputs of equal shapes) compute the same operators; a unique
    key for one that must run alone."""
    if not isinstance(encoder, TransformerEncoder) or encoder.layer_type != "mult":
        return ("alone", index)
    if forward_hooked(encoder.modules()):  # a hook on it or inside it expects its modules to be called
        return ("alone", index)
    if len(encoder.layers) * 12 * encoder.embed_dim**2 > MAX_GROUP_PARAMETERS:  # its layers' matrices
        return ("alone", index)
    layer = encoder.layers[0]
    weight = layer.fc1.weight
    settings = (encoder.embed_dim, layer.self_attn.num_heads, len(encoder.layers), encoder.embed_dropout,
                layer.relu_dropout, layer.res_dropout, layer.attn_mask, encoder.training,
                encoder.layer_norm.eps, layer.layer_norms[0].eps, weight.dtype, weight.device)

    def layer_settings(l) -> tuple:  # every layer alike (the keys' normalisation is shared by all layers)
        return (l.relu_dropout, l.res_dropout, l.attn_mask, l.self_attn.attn_dropout, l.training,
                l.self_attn.training, l.layer_norms[0].eps, l.layer_norms[1].eps)

    if any(layer_settings(l) != layer_settings(layer) for l in encoder.layers):
        return ("alone", index)
    return ("group", settings)


class _Weights(NamedTuple):
    """A group's weights, stacked once per forward and layer-major: ``(D, G, ...)``, ``D`` layers.

    Each LayerNorm inside a layer feeds only linear maps, so its affine part is folded into their
    weights (``(n * g + b) W^T + c = n (W diag g)^T + (W b + c)``): the per-member scale and shift
    then act on ``(G, O, E)`` weights instead of ``(G, B, L, E)`` activations.
    """

    in_w: torch.Tensor  # (D, G, 3E, E), rows [W_q; W_k; W_v], LN0 folded
    in_b: torch.Tensor  # (D, G, 3E)
    out_w: torch.Tensor  # (D, G, E, E)
    out_b: torch.Tensor  # (D, G, E)
    fc1_w: torch.Tensor  # (D, G, 4E, E), LN1 folded
    fc1_b: torch.Tensor  # (D, G, 4E)
    fc2_w: torch.Tensor  # (D, G, E, 4E)
    fc2_b: torch.Tensor  # (D, G, E)
    norm_w: torch.Tensor  # (G, E): the final LayerNorm, applied to activations
    norm_b: torch.Tensor  # (G, E)


def _stacked_weights(encoders: list[TransformerEncoder]) -> _Weights:
    """One ``torch.stack`` per kind of weight for all layers of all members."""
    depth, members = len(encoders[0].layers), len(encoders)
    layers = [e.layers[i] for i in range(depth) for e in encoders]  # layer-major

    def stack(get: Callable) -> torch.Tensor:
        return torch.stack([get(l) for l in layers])

    in_w, in_b = _fold(stack(lambda l: l.self_attn.in_proj_weight), stack(lambda l: l.self_attn.in_proj_bias),
                       stack(lambda l: l.layer_norms[0].weight), stack(lambda l: l.layer_norms[0].bias))
    fc1_w, fc1_b = _fold(stack(lambda l: l.fc1.weight), stack(lambda l: l.fc1.bias),
                         stack(lambda l: l.layer_norms[1].weight), stack(lambda l: l.layer_norms[1].bias))
    per_layer = (in_w, in_b, stack(lambda l: l.self_attn.out_proj.weight),
                 stack(lambda l: l.self_attn.out_proj.bias), fc1_w, fc1_b, stack(lambda l: l.fc2.weight),
                 stack(lambda l: l.fc2.bias))
    norms = [e.layer_norm for e in encoders]
    return _Weights(*(t.unflatten(0, (depth, members)) for t in per_layer),
                    norm_w=torch.stack([n.weight for n in norms]), norm_b=torch.stack([n.bias for n in norms]))


def _fold(weight: torch.Tensor, bias: torch.Tensor, ln_weight: torch.Tensor, ln_bias: torch.Tensor):
    """A LayerNorm's affine ``(N, E)`` folded into the linear ``(N, O, E)``, ``(N, O)`` after it."""
    folded_bias = torch.baddbmm(bias[:, :, None], weight, ln_bias[:, :, None]).squeeze(-1)
    return weight * ln_weight[:, None, :], folded_bias


def _plain_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm without its affine part (folded into the next linear map)."""
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def _norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-member LayerNorm of ``(G, B, L, E)`` with ``(G, E)`` weights and biases."""
    return torch.addcmul(bias[:, None, None], _plain_norm(x, eps), weight[:, None, None])


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-member ``x W^T + b``: x ``(G, B, L, I)``, weight ``(G, O, I)``, bias ``(G, O)`` -> ``(G, B, L, O)``."""
    g, b, length, _ = x.shape
    out = torch.baddbmm(bias[:, None], x.reshape(g, b * length, -1), weight.transpose(1, 2))
    return out.view(g, b, length, -1)


def _projected_heads(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, heads: int) -> torch.Tensor:
    """``x`` through several projections of width E at once, split into heads.

    Args:
        x: ``(G, B, L, E)``.
        weight: ``(D, G, P * E, E)``: P stacked projections (rows of ``in_proj_weight``) in each
            of D layers.
        bias: ``(D, G, P * E)``.
        heads: H.

    Returns:
        ``(P, D, G, B, H, L, Dh)``, contiguous: one product and one copy for all of them, so each
        ``[p, d]`` is a ready ``(G, B, H, L, Dh)`` operand of the attention's batched products.
    """
    depth, g, rows, width = weight.shape
    _, batch, length, _ = x.shape
    w_t = weight.permute(1, 3, 0, 2).reshape(g, width, depth * rows)  # (G, E, D * P * E)
    b = bias.permute(1, 0, 2).reshape(g, 1, depth * rows)
    y = torch.baddbmm(b, x.reshape(g, batch * length, width), w_t)
    y = y.view(g, batch, length, depth, rows // width, heads, width // heads)
    return y.permute(4, 3, 0, 1, 5, 2, 6).contiguous()


def _run_group(
    encoders: list[TransformerEncoder],
    queries: list[torch.Tensor],
    keys: list[torch.Tensor | None],
    *,
    output_steps: tuple[int, ...] | None,
) -> list[torch.Tensor]:
    """The grouped forward of :meth:`TransformerEncoder.forward` (same steps, same order)."""
    first = encoders[0]
    width = first.embed_dim
    if queries[0].shape[-1] != width or (keys[0] is not None and keys[0].shape[-1] != width):
        return [e(q, k, output_steps=output_steps) for e, q, k in zip(encoders, queries, keys)]
    steps = None if output_steps is None else normalise_steps(output_steps, queries[0].shape[1])
    weights = _stacked_weights(encoders)
    lead = first.layers[0]
    eps0 = lead.layer_norms[0].eps
    x = first._embed_dropout(first._scaled_with_positions(torch.stack(queries)))  # (G, B, Lq, E)
    keys_values = None
    if keys[0] is not None:  # separate dropout calls for keys and values, as each encoder makes
        kv = first._scaled_with_positions(torch.stack(keys))
        key, value = first._embed_dropout(kv), first._embed_dropout(kv)
        keys_values = _attention_keys(key, value, weights, eps=eps0, heads=lead.self_attn.num_heads)
    keys_per_layer = [None] * len(first.layers) if keys_values is None else list(zip(*keys_values))
    last = len(first.layers) - 1
    # unbind, not indexing: the backward of one unbind is one stack, that of each index a zero-filled
    # copy of the whole stack
    for i, (layer_weights, layer_keys) in enumerate(zip(zip(*(t.unbind(0) for t in weights[:8])), keys_per_layer)):
        x = _layer([e.layers[i] for e in encoders], x, _LayerWeights(*layer_weights), layer_keys,
                   query_steps=steps if i == last else None)
    return list(_norm(x, weights.norm_w, weights.norm_b, first.layer_norm.eps).unbind(0))


def _attention_keys(key: torch.Tensor, value: torch.Tensor, weights: _Weights, *, eps: float,
                    heads: int) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Every layer's keys and values of a crossmodal group, in heads: two D-tuples of ``(G, B, H, Lk, Dh)``.

    In every layer the keys and values are the encoder's inputs through that layer's LN0 and
    projections: the normalisation is the same in all layers (its affine is folded into the
    weights), so it is computed once, and the projections of all layers are one product.
    """
    width = key.shape[-1]
    w, b = weights.in_w, weights.in_b
    k_norm = _plain_norm(key, eps)
    if value is key:  # one product for keys and values (rows [W_k; W_v])
        k, v = _projected_heads(k_norm, w[:, :, width:], b[:, :, width:], heads)
        return k.unbind(0), v.unbind(0)
    v_norm = _plain_norm(value, eps)
    (k,) = _projected_heads(k_norm, w[:, :, width : 2 * width], b[:, :, width : 2 * width], heads)
    (v,) = _projected_heads(v_norm, w[:, :, 2 * width :], b[:, :, 2 * width :], heads)
    return k.unbind(0), v.unbind(0)


class _LayerWeights(NamedTuple):
    """One layer's slice of :class:`_Weights`: ``(G, ...)``."""

    in_w: torch.Tensor
    in_b: torch.Tensor
    out_w: torch.Tensor
    out_b: torch.Tensor
    fc1_w: torch.Tensor
    fc1_b: torch.Tensor
    fc2_w: torch.Tensor
    fc2_b: torch.Tensor


def _layer(layers: list, x: torch.Tensor, weights: _LayerWeights,
           keys_values: tuple[torch.Tensor, torch.Tensor] | None, *,
           query_steps: tuple[int, ...] | None) -> torch.Tensor:
    """One :class:`~bpmult.nn.TransformerEncoderLayer` for every member: ``(G, B, Lq, E)``.

    ``keys_values``: this layer's keys and values of a crossmodal group, ``(G, B, H, Lk, Dh)``
    each (:func:`_attention_keys`); None for self-attention.
    """
    lead = layers[0]
    training = lead.training
    heads = lead.self_attn.num_heads
    w, b = weights.in_w[None], weights.in_b[None]  # one layer, as _projected_heads takes them
    width = x.shape[-1]
    eps0 = lead.layer_norms[0].eps
    rows = x if query_steps is None else take_steps(x, query_steps)
    if keys_values is not None:
        k, v = keys_values
        q = _projected_heads(_plain_norm(rows, eps0), w[:, :, :width], b[:, :, :width], heads).flatten(0, 2)
    elif query_steps is None:  # self-attention: one product for queries, keys and values
        q, k, v = _projected_heads(_plain_norm(x, eps0), w, b, heads).squeeze(1).unbind(0)
    else:  # self-attention of some steps: the whole normalised sequence is the keys and values
        normed = _plain_norm(x, eps0)
        q = _projected_heads(take_steps(normed, query_steps), w[:, :, :width], b[:, :, :width], heads).flatten(0, 2)
        k, v = _projected_heads(normed, w[:, :, width:], b[:, :, width:], heads).squeeze(1).unbind(0)
    attended = _attention(layers, q, k, v, weights.out_w, weights.out_b, query_len=x.shape[2],
                          query_steps=query_steps)
    x = rows + dropout(attended, p=lead.res_dropout, training=training)
    return x + dropout(_feed_forward(lead, x, weights), p=lead.res_dropout, training=training)


def _feed_forward(lead, x: torch.Tensor, weights: _LayerWeights) -> torch.Tensor:
    """Every member's ``fc2(drop(relu(fc1(LN1(x)))))``, LN1's affine folded into fc1: ``(G, B, L, E)``."""
    normed = _plain_norm(x, lead.layer_norms[1].eps)
    if fused_feed_forward.applies(x):  # CPU: one autograd step (hooked encoders never group)
        g, batch, length, width = x.shape
        out = fused_feed_forward.feed_forward(normed.view(g, batch * length, width), weights.fc1_w, weights.fc1_b,
                                              weights.fc2_w, weights.fc2_b, p=lead.relu_dropout,
                                              training=lead.training)
        return out.view(g, batch, length, width)
    h = F.relu(_linear(normed, weights.fc1_w, weights.fc1_b))
    h = dropout(h, p=lead.relu_dropout, training=lead.training)
    return _linear(h, weights.fc2_w, weights.fc2_b)


def _attention(layers: list, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out_w: torch.Tensor,
               out_b: torch.Tensor, *, query_len: int, query_steps: tuple[int, ...] | None) -> torch.Tensor:
    """Every member's :class:`~bpmult.nn.MultiheadAttention` after its input projection.

    Args:
        q: ``(G, B, H, Lq, Dh)``; k, v: ``(G, B, H, Lk, Dh)``.
        out_w, out_b: the output projection, ``(G, E, E)`` and ``(G, E)``.
        query_len, query_steps: the whole query's length and the steps that ``q`` holds (or None).

    Returns:
        ``(G, B, Lq, E)``.
    """
    attns = [l.self_attn for l in layers]
    g, batch, heads, lq, _ = q.shape
    lk = k.shape[3]
    ps = [a.attn_dropout if a.training else 0.0 for a in attns]
    masked = layers[0].attn_mask
    if max(ps) > 0.0 and own_training_attention(q.device):
        bias = additive_bias(query_len, lk, device=q.device, dtype=q.dtype, masked=masked, query_steps=query_steps)
        out = _attend_runs(q, k, v, bias=bias, ps=ps)
    else:
        mask = sdpa_mask(query_len, lk, device=q.device, masked=masked, query_steps=query_steps)
        outs = [F.scaled_dot_product_attention(q[lo:hi].flatten(0, 1), k[lo:hi].flatten(0, 1),
                                               v[lo:hi].flatten(0, 1), attn_mask=mask.attn_mask, dropout_p=p,
                                               is_causal=mask.is_causal)
                for lo, hi, p in _runs(ps)]  # SDPA takes one dropout p per call
        out = _concat(outs).view(g, batch, heads, lq, -1)
    merged = out.transpose(2, 3).reshape(g, batch, lq, -1)
    return _linear(merged, out_w, out_b)


def _runs(ps: list[float]) -> list[tuple[int, int, float]]:
    """``(start, stop, p)`` of each run of equal values in ``ps``."""
    runs, start = [], 0
    for i in range(1, len(ps) + 1):
        if i == len(ps) or ps[i] != ps[start]:
            runs.append((start, i, ps[start]))
            start = i
    return runs


def _attend_runs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, bias: torch.Tensor | None,
                 ps: list[float]) -> torch.Tensor:
    """CPU training attention of every member, ``(G, B, H, L, Dh)``: one product, softmax and
    weighting for the group, the dropout of the probabilities per run of equal ``p``
    (:func:`bpmult.nn.fused_attention.attend`; under autocast, autograd's composition)."""
    g, batch, heads, lq, dh = q.shape
    q3, k3, v3 = (t.reshape(g * batch * heads, -1, dh) for t in (q, k, v))
    if fused_attention.applies(q, k):
        rows = batch * heads  # of each member
        runs = [(lo * rows, hi * rows, p) for lo, hi, p in _runs(ps)]
        return fused_attention.attend(q3, k3, v3, bias=bias, runs=runs).view(g, batch, heads, lq, dh)
    probs = attention_probabilities(q3, k3, bias=bias).unflatten(0, (g, -1))
    probs = _concat([dropout(probs[lo:hi], p, training=True) for lo, hi, p in _runs(ps)])
    return torch.bmm(probs.flatten(0, 1), v3).view(g, batch, heads, lq, dh)


def _concat(parts: list[torch.Tensor]) -> torch.Tensor:
    """The runs' results along the member axis (no copy for a single run)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts)
