"""bpmult.nn.dropout is inverted dropout with the stated probability, and the attention that uses it in
CPU training computes MuLT's attention with that dropout on the probabilities."""

import math

import pytest
import torch
import torch.nn.functional as F

from bpmult.nn.attention import MultiheadAttention
from bpmult.nn.dropout import dropout, keep_mask
from tests.nn.mult_reference import reference_attention


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
def test_keep_rate_and_scale(p):
    torch.manual_seed(0)
    n = 2_000_000
    x = torch.rand(n) + 0.5  # no zeros, so a zero output means dropped
    out = dropout(x, p, training=True)
    kept = out != 0
    rate = kept.double().mean().item()
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(rate - (1 - p)) < 5 * sigma, (rate, 1 - p)
    assert torch.allclose(out[kept], x[kept] / (1 - p), rtol=1e-6)


def test_neighbouring_elements_are_independent():
    # P(both kept) = (1 - p)^2 for adjacent elements and for elements a row apart
    torch.manual_seed(1)
    p, n = 0.5, 1_000_000
    kept = keep_mask((n, 2), p, dtype=torch.float32) != 0
    for a, b in ((kept[:, 0], kept[:, 1]), (kept[:-1, 0], kept[1:, 0])):
        both = (a & b).double().mean().item()
        assert abs(both - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n), both


def test_identity_outside_training_and_at_zero():
    x = torch.randn(4, 5)
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\], got 1.5"):
        dropout(x, 1.5, training=True)


def test_seeded_and_resumable():
    x = torch.randn(50, 40)
    torch.manual_seed(7)
    first, second = dropout(x, 0.3, training=True), dropout(x, 0.3, training=True)
    assert not torch.equal(first, second)
    torch.manual_seed(7)
    assert torch.equal(dropout(x, 0.3, training=True), first)
    state = torch.get_rng_state()
    third = dropout(x, 0.3, training=True)
    torch.set_rng_state(state)
    assert torch.equal(dropout(x, 0.3, training=True), third)


def test_gradient_is_the_scaled_mask():
    torch.manual_seed(2)
    x = (torch.rand(30, 20) + 0.5).requires_grad_()
    w = torch.randn(30, 20)
    out = dropout(x, 0.4, training=True)
    (out * w).sum().backward()
    mask = (out != 0).float() / 0.6
    assert torch.allclose(x.grad, w * mask, rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_keeps_the_dtype(dtype):
    x = torch.ones(1000, dtype=dtype)
    out = dropout(x, 0.5, training=True)
    assert out.dtype == dtype
    assert set(out.unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize("lq,lk,masked", [(6, 6, True), (4, 9, True), (9, 4, True), (5, 7, False)])
def test_training_attention_is_mult_attention_with_dropped_probabilities(lq, lk, masked):
    # the one random draw of a training attention is the mask of its (B*H, Lq, Lk) probabilities:
    # the same seed gives the same mask to the oracle, which applies it to the official attention
    torch.manual_seed(4)
    mha = MultiheadAttention(embed_dim=8, num_heads=2, attn_dropout=0.3).train()
    q, kv = torch.randn(3, lq, 8, dtype=torch.float64), torch.randn(3, lk, 8, dtype=torch.float64)
    mha.double()
    torch.manual_seed(11)
    ours = mha(q, kv, kv.clone(), masked=masked)
    torch.manual_seed(11)
    drop = keep_mask((3 * 2, lq, lk), 0.3, dtype=torch.float64).view(3, 2, lq, lk)
    expected = reference_attention_dropped(mha, q, kv, masked, drop)
    assert torch.allclose(ours, expected, atol=1e-10)
    assert not torch.allclose(ours, reference_attention(mha, q, kv, kv, masked), atol=1e-3)


def reference_attention_dropped(mha, q, kv, masked, drop):
    """Official MuLT's attention (as the oracle in mult_reference) with ``drop`` on its probabilities."""
    E, H = mha.embed_dim, mha.num_heads
    w, b = mha.in_proj_weight, mha.in_proj_bias
    B, lq, lk = q.shape[0], q.shape[1], kv.shape[1]

    def heads(t):
        return t.view(B, -1, H, E // H).transpose(1, 2)

    qh = heads((q @ w[:E].T + b[:E]) * (E // H) ** -0.5)
    kh, vh = heads(kv @ w[E : 2 * E].T + b[E : 2 * E]), heads(kv @ w[2 * E :].T + b[2 * E :])
    scores = qh @ kh.transpose(-1, -2)
    if masked:
        scores = scores + torch.triu(torch.full((lq, lk), float("-inf"), dtype=q.dtype), 1 + abs(lk - lq))
    out = (torch.softmax(scores, dim=-1) * drop) @ vh
    return mha.out_proj(out.transpose(1, 2).reshape(B, lq, E))


def test_training_attention_never_reads_masked_keys():
    torch.manual_seed(5)
    mha = MultiheadAttention(embed_dim=8, num_heads=2, attn_dropout=0.2).train()
    q, kv = torch.randn(2, 6, 8), torch.randn(2, 6, 8).requires_grad_()
    out = mha(q, kv, kv, masked=True)
    out[:, 0].sum().backward()  # query 0 may attend to key 0 only (square causal)
    assert kv.grad[:, 1:].abs().max() == 0
    assert kv.grad[:, 0].abs().max() > 0


def test_cuda_path_is_pytorch_dropout():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    x = torch.randn(1000, device="cuda")
    torch.manual_seed(3)
    ours = dropout(x, 0.2, training=True)
    torch.manual_seed(3)
    assert torch.equal(ours, F.dropout(x, 0.2, training=True))


def test_realised_probability_is_stated():
    from bpmult.nn.dropout import realised_drop_probability

    n = 2**16
    assert realised_drop_probability(0.1, n) == 3277 / 2**15  # 15-bit threshold: 0.100006
    assert realised_drop_probability(0.25, n) == 0.25 and realised_drop_probability(0.5, n) == 0.5
    assert abs(realised_drop_probability(0.001, n) - 0.001) < 2**-31  # too small for 15 bits: 31-bit draws
    assert abs(realised_drop_probability(0.1, 1000) - 0.1) < 2**-31  # a small tensor: 31-bit draws


def test_small_probability_is_not_rounded_away():
    # a 15-bit threshold would round p = 2**-17 to 0 (nothing ever dropped); 4 M elements drop ~30
    torch.manual_seed(3)
    mask = keep_mask((4_000_000,), 2**-17, dtype=torch.float32)
    assert 5 <= int((mask == 0).sum()) <= 80


@pytest.mark.parametrize("shape", [(7,), (3, 5, 7), (1,), (8193,), (3, 4097)])
def test_odd_sizes(shape):
    torch.manual_seed(4)
    mask = keep_mask(shape, 0.5, dtype=torch.float32)
    assert mask.shape == shape and set(mask.unique().tolist()) <= {0.0, 2.0}
    if mask.numel() > 100:
        assert abs(float((mask == 0).double().mean()) - 0.5) < 0.1
