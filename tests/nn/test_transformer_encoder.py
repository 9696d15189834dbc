"""The MuLT encoder against a from-scratch transcription of the official semantics, and the
translating layer against its equations."""

import math

import pytest
import torch
import torch.nn.functional as F

from bpmult.nn.encoder import TransformerEncoder
from mult_reference import reference_attention, reference_encoder, reference_positions


def randomize(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():  # LayerNorm and bias values off their defaults, so a swapped one shows
        for name, p in module.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return module.eval()


def padded(batch: int, length: int, width: int, pad: int) -> torch.Tensor:
    x = torch.randn(batch, length, width)
    x[0, :pad] = 0.0  # left padding in sample 0, as MuLT's data
    return x


@pytest.mark.parametrize("lq,lk", [(6, 6), (4, 7), (7, 5), (8, 3)])
@pytest.mark.parametrize("masked", [True, False])
def test_crossmodal_encoder_matches_reference(lq, lk, masked):
    torch.manual_seed(0)
    enc = randomize(TransformerEncoder(embed_dim=8, num_heads=2, layers=2, attn_mask=masked))
    x, kv = padded(2, lq, 8, 2), padded(2, lk, 8, 1)
    with torch.no_grad():
        assert torch.allclose(enc(x, kv), reference_encoder(enc, x, kv, masked), atol=1e-5)


def test_self_attention_encoder_matches_reference():
    torch.manual_seed(1)
    enc = randomize(TransformerEncoder(embed_dim=12, num_heads=3, layers=3))
    x = padded(3, 5, 12, 2)
    with torch.no_grad():
        assert torch.allclose(enc(x), reference_encoder(enc, x), atol=1e-5)


def test_keys_and_values_get_separate_embedding_dropout(monkeypatch):
    torch.manual_seed(2)
    enc = TransformerEncoder(embed_dim=8, num_heads=2, layers=1, embed_dropout=0.5)
    seen = []
    attention = enc.layers[0].self_attn
    original = attention.forward

    def spy(query, key=None, value=None, **kwargs):
        seen.append((key, value))
        return original(query, key, value, **kwargs)

    monkeypatch.setattr(attention, "forward", spy)
    x, kv = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    enc.train()(x, kv)
    enc.eval()(x, kv)
    (k_train, v_train), (k_eval, v_eval) = seen
    assert not torch.equal(k_train, v_train)
    assert torch.equal(k_eval, v_eval)


def test_width_mismatch_is_an_error():
    enc = TransformerEncoder(embed_dim=8, num_heads=2, layers=1)
    with pytest.raises(ValueError, match="width 8 got query width 6"):
        enc(torch.randn(1, 3, 6))


def reference_translating(layer, x, kv, *, shared: bool, query_norm: bool) -> torch.Tensor:
    ln0, ln1, ln2 = layer.layer_norms
    self_attention = layer.self_attn if shared else layer.query_self_attn
    h = ln0(x)
    x = x + reference_attention(self_attention, h, h, h, True)
    q = ln1(x) if query_norm else x
    x = x + reference_attention(layer.self_attn, q, ln1(kv), ln1(kv), True)
    return x + layer.fc2(F.relu(layer.fc1(ln2(x))))


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("query_norm", [True, False])
def test_translating_layer_equations(shared, query_norm):
    torch.manual_seed(3)
    enc = randomize(TransformerEncoder(
        embed_dim=8, num_heads=2, layers=1, layer_type="translating",
        shared_attention=shared, query_norm=query_norm,
    ))
    layer = enc.layers[0]
    names = {n for n, _ in layer.named_parameters()}
    assert any(n.startswith("query_self_attn.") for n in names) == (not shared)
    x, kv = torch.randn(2, 5, 8), torch.randn(2, 7, 8)
    E = 8
    xs = math.sqrt(E) * x + reference_positions(x, E)
    kvs = math.sqrt(E) * kv + reference_positions(kv, E)
    expected = enc.layer_norm(reference_translating(layer, xs, kvs, shared=shared, query_norm=query_norm))
    with torch.no_grad():
        assert torch.allclose(enc(x, kv), expected, atol=1e-5)


def test_translating_encoder_needs_keys():
    enc = TransformerEncoder(embed_dim=8, num_heads=2, layers=1, layer_type="translating")
    with pytest.raises(ValueError, match="needs a key/value sequence"):
        enc(torch.randn(1, 3, 8))
