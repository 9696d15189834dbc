"""Our SDPA attention against a direct transcription of the official formula, in every mask regime."""

import pytest
import torch

from bpmult.nn.attention import MultiheadAttention
from mult_reference import reference_attention


def perturbed(mha: MultiheadAttention) -> MultiheadAttention:
    with torch.no_grad():  # non-zero biases so that a wrong slice cannot pass
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha.eval()


@pytest.mark.parametrize("lq,lk", [(5, 5), (3, 7), (7, 5), (9, 3)])
@pytest.mark.parametrize("masked", [True, False])
def test_crossmodal_matches_reference(lq, lk, masked):
    torch.manual_seed(0)
    mha = perturbed(MultiheadAttention(embed_dim=12, num_heads=3))
    q, kv = torch.randn(2, lq, 12), torch.randn(2, lk, 12)
    ours = mha(q, kv, kv, masked=masked)
    assert ours.shape == (2, lq, 12)
    assert torch.allclose(ours, reference_attention(mha, q, kv, kv, masked), atol=1e-5)


def test_mask_changes_the_output_where_it_masks():
    torch.manual_seed(1)
    mha = perturbed(MultiheadAttention(embed_dim=8, num_heads=2))
    q, kv = torch.randn(1, 4, 8), torch.randn(1, 6, 8)
    masked, unmasked = mha(q, kv, kv, masked=True), mha(q, kv, kv, masked=False)
    # Lq=4 < Lk=6: the last query sees every key, the first does not
    assert torch.allclose(masked[:, -1], unmasked[:, -1], atol=1e-6)
    assert not torch.allclose(masked[:, 0], unmasked[:, 0], atol=1e-4)


def test_self_attention_fused_path_equals_separate_path():
    torch.manual_seed(2)
    mha = perturbed(MultiheadAttention(embed_dim=8, num_heads=4))
    x = torch.randn(3, 5, 8)
    assert torch.allclose(mha(x, masked=True), mha(x, x.clone(), x.clone(), masked=True), atol=1e-6)
    assert torch.allclose(mha(x, masked=True), reference_attention(mha, x, x, x, True), atol=1e-5)


def test_attention_dropout_only_in_training():
    torch.manual_seed(3)
    mha = MultiheadAttention(embed_dim=8, num_heads=2, attn_dropout=0.5)
    x = torch.randn(2, 6, 8)
    mha.eval()
    assert torch.equal(mha(x), mha(x))
    mha.train()
    assert not torch.allclose(mha(x), mha(x))


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="10 is not divisible by num_heads 3"):
        MultiheadAttention(embed_dim=10, num_heads=3)
