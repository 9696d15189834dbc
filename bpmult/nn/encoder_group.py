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

import torch
import torch.nn.functional as F
from torch.nn.modules import module as module_state

from bpmult.nn.attention import attention_probabilities, own_training_attention
from bpmult.nn.dropout import dropout
from bpmult.nn.encoder import TransformerEncoder, normalise_steps
from bpmult.nn.layer import take_steps
from bpmult.nn.masks import additive_bias, sdpa_mask


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
    if _hooked(encoder):  # a hook on it or inside it expects its modules to be called
        return ("alone", index)
    if len(encoder.layers) * 12 * encoder.embed_dim**2 > MAX_GROUP_PARAMETERS:  # its layers' matrices
        return ("alone", index)
    layer = encoder.layers[0]
    weight = layer.fc1.weight
    settings = (encoder.embed_dim, layer.self_attn.num_heads, len(encoder.layers), encoder.embed_dropout,
                layer.relu_dropout, layer.res_dropout, layer.attn_mask, encoder.training,
                encoder.layer_norm.eps, layer.layer_norms[0].eps, weight.dtype, weight.device)

    def layer_settings(l) -> tuple:
        return (l.relu_dropout, l.res_dropout, l.attn_mask, l.self_attn.attn_dropout, l.training,
                l.self_attn.training)

    if any(layer_settings(l) != layer_settings(layer) for l in encoder.layers):
        return ("alone", index)
    return ("group", settings)


def _hooked(encoder: TransformerEncoder) -> bool:
    """True when a forward hook would watch the encoder or one of its modules."""
    if module_state._global_forward_hooks or module_state._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in encoder.modules())


def _stack(modules: Sequence, get: Callable) -> torch.Tensor:
    return torch.stack([get(m) for m in modules])


def _norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-member LayerNorm of ``(G, B, L, E)`` with ``(G, E)`` weights and biases."""
    normed = F.layer_norm(x, x.shape[-1:], eps=eps)
    return torch.addcmul(bias[:, None, None], normed, weight[:, None, None])


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-member ``x W^T + b``: x ``(G, B, L, I)``, weight ``(G, O, I)``, bias ``(G, O)`` -> ``(G, B, L, O)``."""
    g, b, length, _ = x.shape
    out = torch.baddbmm(bias[:, None], x.reshape(g, b * length, -1), weight.transpose(1, 2))
    return out.view(g, b, length, -1)


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
    x = first._embed_dropout(first._scaled_with_positions(torch.stack(queries)))  # (G, B, Lq, E)
    key = value = None
    if keys[0] is not None:  # separate dropout calls for keys and values, as each encoder makes
        kv = first._scaled_with_positions(torch.stack(keys))
        key, value = first._embed_dropout(kv), first._embed_dropout(kv)
    last = len(first.layers) - 1
    for i in range(len(first.layers)):
        x = _layer([e.layers[i] for e in encoders], x, key, value, query_steps=steps if i == last else None)
    norms = [e.layer_norm for e in encoders]
    x = _norm(x, _stack(norms, lambda n: n.weight), _stack(norms, lambda n: n.bias), first.layer_norm.eps)
    return list(x.unbind(0))


def _layer(layers: list, x: torch.Tensor, key: torch.Tensor | None, value: torch.Tensor | None, *,
           query_steps: tuple[int, ...] | None) -> torch.Tensor:
    """One :class:`~bpmult.nn.TransformerEncoderLayer` for every member: ``(G, B, Lq, E)``.

    Each LayerNorm here feeds only a linear map, so its affine part is folded into that map's
    weights (``(n * g + b) W^T + c = n (W diag g)^T + (W b + c)``): the per-member scale and shift
    then act on ``(G, O, E)`` weights instead of ``(G, B, L, E)`` activations.
    """
    lead = layers[0]
    training = lead.training
    ln0 = [l.layer_norms[0] for l in layers]
    attns = [l.self_attn for l in layers]
    in_w, in_b = _fold(_stack(attns, lambda a: a.in_proj_weight), _stack(attns, lambda a: a.in_proj_bias),
                       _stack(ln0, lambda n: n.weight), _stack(ln0, lambda n: n.bias))
    eps0 = ln0[0].eps
    rows = x if query_steps is None else take_steps(x, query_steps)
    q = _plain_norm(rows, eps0)
    if key is None and query_steps is None:
        attended = _attention(layers, q, None, None, in_w, in_b, query_len=x.shape[2], query_steps=None)
    else:  # keys and values share the query's LayerNorm (official MuLT)
        if key is None:  # self-attention of some steps: the whole normalised sequence is the keys
            key = value = x
        k = _plain_norm(key, eps0)
        v = k if value is key else _plain_norm(value, eps0)
        attended = _attention(layers, q, k, v, in_w, in_b, query_len=x.shape[2], query_steps=query_steps)
    x = rows + dropout(attended, p=lead.res_dropout, training=training)
    return x + dropout(_feed_forward(layers, x), p=lead.res_dropout, training=training)


def _feed_forward(layers: list, x: torch.Tensor) -> torch.Tensor:
    """Every member's ``fc2(drop(relu(fc1(LN1(x)))))``, LN1's affine folded into fc1: ``(G, B, L, E)``."""
    ln1 = [l.layer_norms[1] for l in layers]
    fc1_w, fc1_b = _fold(_stack(layers, lambda l: l.fc1.weight), _stack(layers, lambda l: l.fc1.bias),
                         _stack(ln1, lambda n: n.weight), _stack(ln1, lambda n: n.bias))
    h = F.relu(_linear(_plain_norm(x, ln1[0].eps), fc1_w, fc1_b))
    h = dropout(h, p=layers[0].relu_dropout, training=layers[0].training)
    return _linear(h, _stack(layers, lambda l: l.fc2.weight), _stack(layers, lambda l: l.fc2.bias))


def _plain_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def _fold(weight: torch.Tensor, bias: torch.Tensor, ln_weight: torch.Tensor, ln_bias: torch.Tensor):
    """A LayerNorm's affine ``(G, E)`` folded into the linear ``(G, O, E)``, ``(G, O)`` after it."""
    folded_bias = torch.baddbmm(bias[:, :, None], weight, ln_bias[:, :, None]).squeeze(-1)
    return weight * ln_weight[:, None, :], folded_bias


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    g, b, length, width = t.shape
    return t.view(g, b, length, heads, width // heads).transpose(2, 3)  # (G, B, H, L, Dh)


def _attention(layers: list, q: torch.Tensor, k: torch.Tensor | None, v: torch.Tensor | None,
               w: torch.Tensor, b: torch.Tensor, *, query_len: int,
               query_steps: tuple[int, ...] | None) -> torch.Tensor:
    """Every member's :class:`~bpmult.nn.MultiheadAttention`: q ``(G, B, Lq, E)`` -> ``(G, B, Lq, E)``.

    ``w`` ``(G, 3E, E)`` (rows ``[W_q; W_k; W_v]``) and ``b`` ``(G, 3E)`` are the input projection.
    """
    attns = [l.self_attn for l in layers]
    lead = attns[0]
    width, heads = lead.embed_dim, lead.num_heads
    if k is None:
        q, k, v = _linear(q, w, b).chunk(3, dim=-1)
    elif v is k:  # one product for keys and values
        q = _linear(q, w[:, :width], b[:, :width])
        k, v = _linear(k, w[:, width:], b[:, width:]).chunk(2, dim=-1)
    else:
        q = _linear(q, w[:, :width], b[:, :width])
        k = _linear(k, w[:, width : 2 * width], b[:, width : 2 * width])
        v = _linear(v, w[:, 2 * width :], b[:, 2 * width :])
    g, batch, lq, _ = q.shape
    lk = k.shape[2]
    q, k, v = _split_heads(q, heads), _split_heads(k, heads), _split_heads(v, heads)
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
    merged = out.transpose(2, 3).reshape(g, batch, lq, width)
    return _linear(merged, _stack(attns, lambda a: a.out_proj.weight), _stack(attns, lambda a: a.out_proj.bias))


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
    weighting for the group (:func:`~bpmult.nn.attention.attention_probabilities`); the dropout of
    the probabilities per run of equal ``p``."""
    g, batch, heads, lq, dh = q.shape
    q3, k3, v3 = (t.reshape(g * batch * heads, -1, dh) for t in (q, k, v))
    probs = attention_probabilities(q3, k3, bias=bias).unflatten(0, (g, -1))
    probs = _concat([dropout(probs[lo:hi], p, training=True) for lo, hi, p in _runs(ps)])
    return torch.bmm(probs.flatten(0, 1), v3).view(g, batch, heads, lq, dh)


def _concat(parts: list[torch.Tensor]) -> torch.Tensor:
    """The runs' results along the member axis (no copy for a single run)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts)
