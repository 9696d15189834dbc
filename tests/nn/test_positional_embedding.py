"""Sinusoidal positional embedding: the table by hand, and MuLT's channel-0 padding rule."""

import math

import torch

from bpmult.nn.positional import SinusoidalPositionalEmbedding, sinusoidal_table


def test_table_by_hand():
    # dim 6: half 3, w_k = exp(-k ln(1e4) / 2) = 1, 1e-2, 1e-4
    table = sinusoidal_table(4, 6)
    freqs = [1.0, 1e-2, 1e-4]
    for p in range(1, 4):
        expected = [math.sin(p * w) for w in freqs] + [math.cos(p * w) for w in freqs]
        assert torch.allclose(table[p], torch.tensor(expected), atol=1e-6)
    assert torch.equal(table[0], torch.zeros(6))


def test_odd_dim_has_zero_last_column():
    table = sinusoidal_table(5, 7)
    assert table.shape == (5, 7)
    assert torch.equal(table[:, -1], torch.zeros(5))
    assert torch.allclose(table[:, :6], sinusoidal_table(5, 6))


def test_too_narrow_dim_is_refused():
    import pytest

    with pytest.raises(ValueError, match="dim=2"):
        sinusoidal_table(3, 2)


def test_zero_channel0_steps_get_zero_embedding_and_others_keep_t_plus_1():
    channel0 = torch.tensor([[0.0, 0.0, 0.5, 0.0, -1.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    pe = SinusoidalPositionalEmbedding(dim=8)(channel0)
    table = sinusoidal_table(7, 8)
    assert pe.shape == (2, 6, 8)
    for t in (0, 1, 3):  # left padding and a hole
        assert torch.equal(pe[0, t], torch.zeros(8))
    for t in (2, 4, 5):  # position t + 1, even after the hole
        assert torch.equal(pe[0, t], table[t + 1])
    assert torch.equal(pe[1], table[1:7])


def test_dtype_follows_input():
    pe = SinusoidalPositionalEmbedding(dim=4)(torch.ones(1, 3, dtype=torch.float64))
    assert pe.dtype == torch.float64
