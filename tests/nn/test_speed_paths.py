"""The speed paths of bpmult.nn give the same numbers as the plain ones: the output steps of an
encoder's last layer alone, the shared key/value projection, the cached masks and positions."""

import pytest
import torch

from bpmult.nn.attention import MultiheadAttention
from bpmult.nn.encoder import TransformerEncoder, normalise_steps
from bpmult.nn.masks import allowed_positions, sdpa_mask
from bpmult.nn.positional import SinusoidalPositionalEmbedding, sinusoidal_table


def randomized(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():  # LayerNorm and biases off their defaults
        for name, p in module.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return module.eval()


CASES = [(6, None), (5, 5), (4, 9), (9, 7), (9, 3)]  # (Lq, Lk); Lk None: self-attention


@pytest.mark.parametrize("lq,lk", CASES)
@pytest.mark.parametrize("layer_type", ["mult", "translating"])
@pytest.mark.parametrize("steps", [(-1,), (0,), (0, -1), (2, 1)])
def test_output_steps_equal_the_rows_of_the_full_output(lq, lk, layer_type, steps):
    if layer_type == "translating" and lk is None:
        pytest.skip("a translating encoder needs keys")
    torch.manual_seed(0)
    enc = randomized(TransformerEncoder(embed_dim=8, num_heads=2, layers=2, layer_type=layer_type))
    x = torch.randn(3, lq, 8)
    kv = None if lk is None else torch.randn(3, lk, 8)
    full = enc(x, kv)
    part = enc(x, kv, output_steps=steps)
    assert part.shape == (3, len(steps), 8)
    assert torch.allclose(part, full[:, list(steps)], atol=1e-6)
    # and the gradients of a loss on those rows
    part.square().sum().backward()
    grads = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    full[:, list(steps)].square().sum().backward()
    for g, p in zip(grads, enc.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-5)


def test_output_steps_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="output_steps"):
        normalise_steps((5,), 5)
    assert normalise_steps((-1, 0), 4) == (3, 0)


def test_shared_key_value_tensor_equals_separate_tensors():
    torch.manual_seed(1)
    attn = randomized(MultiheadAttention(embed_dim=12, num_heads=3))
    q, kv = torch.randn(2, 5, 12), torch.randn(2, 7, 12)
    assert torch.allclose(attn(q, kv, kv, masked=True), attn(q, kv, kv.clone(), masked=True), atol=1e-6)


@pytest.mark.parametrize("lq,lk", [(4, 4), (3, 8), (8, 5), (9, 3)])
def test_sdpa_mask_forms_allow_exactly_the_mult_positions(lq, lk):
    mask = sdpa_mask(lq, lk, device=torch.device("cpu"))
    allowed = allowed_positions(lq, lk)
    if mask.kind == "none":
        assert bool(allowed.all())
    elif mask.kind == "is_causal":
        assert lq == lk and torch.equal(allowed, torch.ones(lq, lk, dtype=torch.bool).tril())
    else:
        assert mask.kind == "bool" and torch.equal(mask.attn_mask, allowed)
    for steps in [(0,), (lq - 1,), (1, 0)]:
        rows = sdpa_mask(lq, lk, device=torch.device("cpu"), query_steps=steps)
        expected = allowed[list(steps)]
        assert torch.equal(rows.attn_mask, expected) if rows.kind == "bool" else bool(expected.all())
    assert sdpa_mask(lq, lk, device=torch.device("cpu"), masked=False).kind == "none"


def test_cached_mask_built_in_inference_mode_serves_training():
    attn = MultiheadAttention(embed_dim=8, num_heads=2)
    q, kv = torch.randn(2, 3, 8), torch.randn(2, 11, 8)
    with torch.inference_mode():
        attn(q, kv, kv, masked=True)  # first use caches the (3, 11) mask
    attn(q.requires_grad_(), kv, kv, masked=True).sum().backward()
    assert q.grad is not None


def test_cached_positions_equal_the_table_and_follow_dtype():
    channel0 = torch.tensor([[0.0, 1.0, 0.0, 2.0]])
    pe = SinusoidalPositionalEmbedding(dim=6)(channel0)
    table = sinusoidal_table(5, 6)
    assert torch.equal(pe[0], torch.stack([table[0], table[2], table[0], table[4]]))
    assert SinusoidalPositionalEmbedding(dim=6)(channel0.double()).dtype == torch.float64


@pytest.mark.parametrize("lq,lk", [(2, 6), (3, 8), (5, 6)])
def test_cuda_lower_right_form_allows_exactly_the_mult_positions(lq, lk):
    # the CUDA branch (CausalBias keeps flash / memory-efficient eligible) is chosen without touching
    # the device, so its positions and its attention can be checked on the CPU
    mask = sdpa_mask(lq, lk, device=torch.device("cuda"))
    assert mask.kind == "causal_lower_right" and not mask.is_causal
    assert torch.equal(mask.attn_mask._materialize(torch.device("cpu")), allowed_positions(lq, lk))
    q, k, v = torch.randn(2, 3, lq, 4), torch.randn(2, 3, lk, 4), torch.randn(2, 3, lk, 4)
    by_bias = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask.attn_mask)
    by_bool = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed_positions(lq, lk))
    assert torch.allclose(by_bias, by_bool, atol=1e-6)
