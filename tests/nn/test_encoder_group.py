"""run_encoders: a group of same-shape encoders computes what each encoder computes on its own.

Sizes are distinct (batch 3, query 7, keys 5, width 8, 2 heads) so that a swapped axis fails; every
parameter, LayerNorms included, is drawn at random so that a folded or misplaced affine shows.
"""

import pytest
import torch

from bpmult.nn import TransformerEncoder
from bpmult.nn import encoder_group
from bpmult.nn.encoder_group import run_encoders

B, LQ, LK, E, H = 3, 7, 5, 8, 2


def encoders(attn_dropouts, *, layers=2, seed=0, dtype=torch.float64, **kwargs):
    torch.manual_seed(seed)
    out = []
    for p in attn_dropouts:
        enc = TransformerEncoder(embed_dim=E, num_heads=H, layers=layers, attn_dropout=p, **kwargs).to(dtype)
        with torch.no_grad():
            for param in enc.parameters():
                param.normal_(0.0, 0.5)
        out.append(enc)
    return out


def inputs(n, length, *, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, length, E, generator=g, dtype=dtype) for _ in range(n)]


@pytest.fixture
def group_sizes(monkeypatch):
    sizes = []
    original = encoder_group._run_group

    def spy(members, *args, **kwargs):
        sizes.append(len(members))
        return original(members, *args, **kwargs)

    monkeypatch.setattr(encoder_group, "_run_group", spy)
    return sizes


@pytest.mark.parametrize("cross", [True, False])
@pytest.mark.parametrize("steps", [None, (-1,), (0, -1), (2,), (1, 2, 3)])
def test_eval_outputs_equal_each_encoders_own(cross, steps, group_sizes):
    encs = encoders([0.1, 0.0, 0.3])  # attention dropout differs; in evaluation it does not act
    for e in encs:
        e.eval()
    queries = inputs(3, LQ, seed=1)
    keys = inputs(3, LK, seed=2) if cross else None
    own = [e(q, None if keys is None else k, output_steps=steps)
           for e, q, k in zip(encs, queries, keys or [None] * 3)]
    grouped = run_encoders(encs, queries, keys, output_steps=[steps] * 3)
    assert group_sizes == [3]
    for a, b in zip(own, grouped):
        assert a.shape == b.shape == (B, LQ if steps is None else len(steps), E)
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


def test_unmasked_float32_and_mixed_steps(group_sizes):
    encs = encoders([0.0] * 4, dtype=torch.float32, attn_mask=False)
    for e in encs:
        e.eval()
    queries, keys = inputs(4, LQ, seed=3, dtype=torch.float32), inputs(4, LK, seed=4, dtype=torch.float32)
    steps = [(-1,), (-1,), (0,), None]  # equal steps group together
    grouped = run_encoders(encs, queries, keys, output_steps=steps)
    assert sorted(group_sizes) == [2]
    for e, q, k, s, out in zip(encs, queries, keys, steps, grouped):
        torch.testing.assert_close(out, e(q, k, output_steps=s), rtol=1e-5, atol=1e-5)


def test_training_gradients_equal_without_dropout(group_sizes):
    encs = encoders([0.0, 0.0, 0.0])
    queries, keys = inputs(3, LQ, seed=5), inputs(3, LK, seed=6)
    params = [p for e in encs for p in e.parameters()]
    weights = inputs(3, LQ, seed=7)

    def loss(outputs):
        return sum((o * w).sum() for o, w in zip(outputs, weights))

    own = torch.autograd.grad(loss([e(q, k) for e, q, k in zip(encs, queries, keys)]), params)
    grouped = torch.autograd.grad(loss(run_encoders(encs, queries, keys)), params)
    assert group_sizes == [3]
    for a, b in zip(own, grouped):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)


def test_each_member_gets_its_own_attention_dropout(group_sizes):
    # only attention dropout is on: the p = 0 members compute their deterministic output in
    # training, the others do not (their probabilities are dropped); members are reordered by p
    encs = encoders([0.5, 0.0, 0.5, 0.0])
    queries, keys = inputs(4, LQ, seed=8), inputs(4, LK, seed=9)
    for e in encs:
        e.eval()
    deterministic = [e(q, k) for e, q, k in zip(encs, queries, keys)]
    for e in encs:
        e.train()
    torch.manual_seed(10)
    trained = run_encoders(encs, queries, keys)
    assert group_sizes == [4]
    for p, det, out in zip([0.5, 0.0, 0.5, 0.0], deterministic, trained):
        if p == 0.0:
            torch.testing.assert_close(out, det, rtol=0, atol=1e-12)
        else:
            assert (out - det).abs().max() > 1e-3


def test_sdpa_dropout_path_keeps_members_apart(monkeypatch, group_sizes):
    # the non-CPU branch (SDPA with dropout per run of equal p), forced on CPU
    monkeypatch.setattr(encoder_group, "own_training_attention", lambda device: False)
    encs = encoders([0.5, 0.0, 0.0], dtype=torch.float32)
    queries, keys = inputs(3, LQ, seed=11, dtype=torch.float32), inputs(3, LK, seed=12, dtype=torch.float32)
    for e in encs:
        e.eval()
    deterministic = [e(q, k) for e, q, k in zip(encs, queries, keys)]
    for e in encs:
        e.train()
    trained = run_encoders(encs, queries, keys)
    assert group_sizes == [3]
    torch.testing.assert_close(trained[1], deterministic[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(trained[2], deterministic[2], rtol=1e-5, atol=1e-5)
    assert (trained[0] - deterministic[0]).abs().max() > 1e-3


def test_training_dropout_is_drawn(group_sizes):
    encs = encoders([0.1, 0.1], relu_dropout=0.2, res_dropout=0.2, embed_dropout=0.2)
    queries, keys = inputs(2, LQ, seed=13), inputs(2, LK, seed=14)
    torch.manual_seed(15)
    first = run_encoders(encs, queries, keys)
    torch.manual_seed(15)
    again = run_encoders(encs, queries, keys)
    other = run_encoders(encs, queries, keys)
    assert group_sizes == [2, 2, 2]
    for a, b, c in zip(first, again, other):
        assert torch.equal(a, b)  # seeded
        assert (a - c).abs().max() > 1e-3  # a new draw


def test_different_shapes_and_settings_run_alone(group_sizes):
    encs = encoders([0.0, 0.0]) + encoders([0.0], layers=3, seed=1) + encoders([0.0], layer_type="translating", seed=2)
    for e in encs:
        e.eval()
    queries = inputs(1, LQ, seed=16) + inputs(1, LQ + 1, seed=17) + inputs(2, LQ, seed=18)
    keys = inputs(4, LK, seed=19)
    grouped = run_encoders(encs, queries, keys)
    assert group_sizes == []  # lengths, depth and layer type differ: nothing is batched
    for e, q, k, out in zip(encs, queries, keys, grouped):
        torch.testing.assert_close(out, e(q, k), rtol=0, atol=0)


def test_a_hooked_encoder_runs_its_own_forward(group_sizes):
    encs = encoders([0.0, 0.0, 0.0])
    for e in encs:
        e.eval()
    seen = []
    handle = encs[1].layers[0].self_attn.register_forward_hook(lambda m, a, out: seen.append(out.shape))
    queries, keys = inputs(3, LQ, seed=20), inputs(3, LK, seed=21)
    try:
        grouped = run_encoders(encs, queries, keys)
    finally:
        handle.remove()
    assert seen == [(B, LQ, E)] * 1 and group_sizes == [2]
    for e, q, k, out in zip(encs, queries, keys, grouped):
        torch.testing.assert_close(out, e(q, k), rtol=0, atol=1e-12)


def test_mismatched_lists_raise():
    encs = encoders([0.0, 0.0])
    with pytest.raises(ValueError, match="2 encoders got 1 queries, 2 keys and 2 output_steps"):
        run_encoders(encs, inputs(1, LQ, seed=0), inputs(2, LK, seed=1))


def test_a_bad_step_raises_as_the_encoder_does():
    encs = encoders([0.0, 0.0])
    with pytest.raises(ValueError, match="output_steps"):
        run_encoders(encs, inputs(2, LQ, seed=0), inputs(2, LK, seed=1), output_steps=[(LQ,), (LQ,)])


def test_large_encoders_run_alone(monkeypatch, group_sizes):
    encs = encoders([0.0, 0.0])
    for e in encs:
        e.eval()
    size = 2 * 12 * E**2  # two layers of 12 E^2 weights in their matrices
    queries, keys = inputs(2, LQ, seed=22), inputs(2, LK, seed=23)
    monkeypatch.setattr(encoder_group, "MAX_GROUP_PARAMETERS", size)
    run_encoders(encs, queries, keys)
    assert group_sizes == [2]  # at the limit: grouped
    monkeypatch.setattr(encoder_group, "MAX_GROUP_PARAMETERS", size - 1)
    grouped = run_encoders(encs, queries, keys)
    assert group_sizes == [2]  # above it: each alone
    for e, q, k, out in zip(encs, queries, keys, grouped):
        torch.testing.assert_close(out, e(q, k), rtol=0, atol=0)
