"""bpmult.nn.fused_attention computes dropout(softmax(q k^T / sqrt(Dh) + bias)) v with per-block
dropout, and its gradients, as autograd's composition of the same steps does with the same masks."""

import pytest
import torch

from bpmult.nn.dropout import keep_mask
from bpmult.nn import fused_attention
from bpmult.nn.fused_attention import attend
from bpmult.nn.masks import additive_bias

N, LQ, LK, DH = 10, 7, 5, 3  # distinct sizes


def _inputs():
    gen = torch.Generator().manual_seed(2)
    return [torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True)
            for s in ((N, LQ, DH), (N, LK, DH), (N, LK, DH))]


def _composed(q, k, v, bias, runs, masks):
    scores = q @ k.transpose(1, 2) / DH**0.5
    if bias is not None:
        scores = scores + bias
    probs = scores.softmax(-1)
    blocks = []
    for (lo, hi, p), mask in zip(runs, masks):
        blocks.append(probs[lo:hi] if mask is None else probs[lo:hi] * mask)
    return torch.cat(blocks) @ v


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("runs", [[(0, N, 0.0)], [(0, N, 0.3)], [(0, 4, 0.0), (4, 10, 0.5)],
                                  [(0, 2, 0.1), (2, 6, 0.0), (6, 10, 0.25)]])
def test_output_and_gradients_equal_the_composition(runs, masked):
    q, k, v = _inputs()
    bias = additive_bias(LQ, LK, device=torch.device("cpu"), dtype=torch.float64, masked=masked)
    assert (bias is not None) == masked
    torch.manual_seed(4)
    out = attend(q, k, v, bias=bias, runs=runs)
    torch.manual_seed(4)  # the same draws, block by block, as dropout() makes them
    masks = [None if p == 0 else keep_mask((hi - lo, LQ, LK), p, dtype=torch.float64) for lo, hi, p in runs]
    ref = _composed(q, k, v, bias, runs, masks)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    upstream = torch.randn(N, LQ, DH, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    for got, want in zip(torch.autograd.grad(out, (q, k, v), upstream),
                         torch.autograd.grad(ref, (q, k, v), upstream)):
        torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-11)


def test_gradcheck_with_fixed_masks():
    def seeded(q, k, v):
        torch.manual_seed(6)
        return attend(q, k, v, bias=None, runs=[(0, 3, 0.2), (3, N, 0.0)])

    assert torch.autograd.gradcheck(seeded, _inputs())


def test_masked_keys_get_no_gradient():
    q, k, v = _inputs()
    bias = additive_bias(LQ, LK, device=torch.device("cpu"), dtype=torch.float64, masked=True)
    # MuLT's rule for Lq 7 > Lk 5: query 0 sees keys 0..2 only; keys 3, 4 reach it through no path
    out = attend(q, k, v, bias=bias, runs=[(0, N, 0.4)])
    (grad_k,) = torch.autograd.grad(out[:, 0].sum(), (k,))
    assert torch.count_nonzero(grad_k[:, 3:]) == 0 and torch.count_nonzero(grad_k[:, :3]) > 0


@pytest.mark.parametrize("runs", [[(0, 5, 0.1)], [(0, 5, 0.1), (6, N, 0.1)], [(0, N, 1.0)], []])
def test_bad_blocks_raise(runs):
    q, k, v = _inputs()
    with pytest.raises(ValueError, match="attention dropout"):
        attend(q, k, v, bias=None, runs=runs)


def test_applies_on_cpu_from_enough_probabilities_without_autocast():
    q, k = torch.zeros(8, 32, 4), torch.zeros(8, 16, 4)  # 8 x 32 x 16 = 4,096 probabilities
    assert fused_attention.applies(q, k)
    assert not fused_attention.applies(q[:, :31], k)
    assert not fused_attention.applies(q.to("meta"), k.to("meta"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_attention.applies(q, k)
