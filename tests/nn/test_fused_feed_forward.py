"""bpmult.nn.fused_feed_forward computes fc2(drop(relu(fc1(x)))) and its gradients as autograd's
composition of the same steps does, with the same dropout mask, and replaces the composition only
where it may."""

import pytest
import torch
import torch.nn.functional as F

from bpmult.nn import fused_feed_forward
from bpmult.nn.dropout import keep_mask
from bpmult.nn.layer import TransformerEncoderLayer

G, N, E, HIDDEN = 3, 11, 5, 7  # distinct sizes, so that a wrong axis cannot pass


def _weights(dtype=torch.float64):
    gen = torch.Generator().manual_seed(3)
    shapes = [(G, N, E), (G, HIDDEN, E), (G, HIDDEN), (G, E, HIDDEN), (G, E)]
    return [torch.randn(s, generator=gen, dtype=dtype, requires_grad=True) for s in shapes]


def _composed(x, w1, b1, w2, b2, mask):
    """The reference: per member, F.linear, F.relu, the scaled mask, F.linear."""
    outs = []
    for g in range(G):
        h = F.relu(F.linear(x[g], w1[g], b1[g]))
        if mask is not None:
            h = h * mask[g]
        outs.append(F.linear(h, w2[g], b2[g]))
    return torch.stack(outs)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_output_and_gradients_equal_the_composition(p):
    inputs = _weights()
    torch.manual_seed(7)
    out = fused_feed_forward.feed_forward(*inputs, p=p, training=True)
    mask = None
    if p > 0:  # the same draw from the same generator state
        torch.manual_seed(7)
        mask = keep_mask((G, N, HIDDEN), p, dtype=torch.float64)
        assert 0 < (mask == 0).sum() < mask.numel()
    ref = _composed(*inputs, mask)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    upstream = torch.randn(G, N, E, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    got = torch.autograd.grad(out, inputs, upstream)
    want = torch.autograd.grad(ref, inputs, upstream)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_gradcheck_with_a_fixed_mask():
    inputs = _weights()

    def seeded(*args):
        torch.manual_seed(11)
        return fused_feed_forward.feed_forward(*args, p=0.3, training=True)

    assert torch.autograd.gradcheck(seeded, inputs)


def test_evaluation_does_not_drop_and_bad_p_raises():
    inputs = _weights()
    torch.testing.assert_close(fused_feed_forward.feed_forward(*inputs, p=0.5, training=False),
                               _composed(*inputs, None))
    with pytest.raises(ValueError, match="dropout"):
        fused_feed_forward.feed_forward(*inputs, p=1.0, training=True)


def test_layer_feed_forward_matches_its_modules_in_float32():
    torch.manual_seed(0)
    layer = TransformerEncoderLayer(embed_dim=E * 2, num_heads=2, relu_dropout=0.2)
    x = torch.randn(4, 33, E * 2)  # 1,320 numbers: above MIN_ELEMENTS, so the fused step runs
    assert fused_feed_forward.applies(x, layer.fc1, layer.fc2)
    torch.manual_seed(1)
    got = layer.feed_forward(x)
    torch.manual_seed(1)
    mask = keep_mask((4, 33, 4 * E * 2), 0.2, dtype=torch.float32)
    want = layer.fc2(F.relu(layer.fc1(x)) * mask)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_applies_only_where_the_modules_need_not_be_called():
    layer = TransformerEncoderLayer(embed_dim=8, num_heads=2)
    x = torch.randn(2, 64, 8)
    assert fused_feed_forward.applies(x, layer.fc1, layer.fc2)
    assert not fused_feed_forward.applies(x[:, :63], layer.fc1, layer.fc2)  # below MIN_ELEMENTS
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_feed_forward.applies(x, layer.fc1, layer.fc2)
    assert not fused_feed_forward.applies(x.to("meta"), layer.fc1, layer.fc2)
    seen = []
    handle = layer.fc1.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        assert not fused_feed_forward.applies(x, layer.fc1, layer.fc2)
        layer.feed_forward(x)  # the hook still fires: the modules run
        assert seen == [torch.Size([2, 64, 32])]
    finally:
        handle.remove()
