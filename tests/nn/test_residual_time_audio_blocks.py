"""Residual block (eq. 24), time reduction (eq. 13), length fitting and the audio encoder."""

import pytest
import torch
import torch.nn.functional as F

from bpmult.nn import AudioEncoder, ResidualBlock, TimeReduction, fit_length, min_audio_frames


def test_residual_block_eq_24_by_hand():
    block = ResidualBlock(dim=2, dropout=0.0)
    with torch.no_grad():
        block.proj1.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))  # W_f2
        block.proj1.bias.copy_(torch.tensor([0.1, -3.0]))
        block.proj2.weight.copy_(torch.tensor([[2.0, 0.0], [1.0, 1.0]]))  # W_f1
        block.proj2.bias.copy_(torch.tensor([0.0, 0.5]))
    o = torch.tensor([[1.0, 0.5]])
    # W_f2 o + b = [0.6, -1.5]; ReLU -> [0.6, 0]; W_f1 . + b = [1.2, 1.1]; + o
    assert torch.allclose(block(o), torch.tensor([[2.2, 1.6]]), atol=1e-6)


def test_residual_block_dropout_only_in_training():
    block = ResidualBlock(dim=16, dropout=0.5)
    x = torch.randn(4, 16)
    assert torch.equal(block.eval()(x), block(x))
    block.train()
    assert not torch.allclose(block(x), block(x))


def test_time_reduction_eq_13_by_hand():
    reduce = TimeReduction(in_len=3, out_len=2)
    with torch.no_grad():
        reduce.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0]]))
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])  # (B=1, S=3, d=2)
    expected = torch.tensor([[[11.0, 14.0], [-2.5, -3.0]]])  # rows: x0 + 2 x2 ; 0.5 x0 - x1
    assert torch.allclose(reduce(x), expected)


def test_time_reduction_pads_and_truncates_to_its_length():
    reduce = TimeReduction(in_len=4, out_len=2)
    short, long = torch.randn(2, 3, 5), torch.randn(2, 6, 5)
    assert torch.allclose(reduce(short), reduce(F.pad(short, (0, 0, 0, 1))))
    assert torch.allclose(reduce(long), reduce(long[:, :4]))


def test_fit_length():
    x = torch.randn(2, 3, 4)
    assert fit_length(x, 3) is x
    assert torch.equal(fit_length(x, 5)[:, :3], x) and torch.equal(fit_length(x, 5)[:, 3:], torch.zeros(2, 2, 4))
    assert torch.equal(fit_length(x, 2), x[:, :2])


def test_audio_encoder_shapes_and_minimum():
    assert min_audio_frames(kernel=128, stride=2) == 382  # the paper's setting
    enc = AudioEncoder(channels=6, kernel=3, stride=2, pooled_len=4)
    assert enc(torch.randn(2, 11, 6)).shape == (2, 4, 6)
    assert enc(torch.randn(2, 7, 6)).shape == (2, 4, 6)  # 7 frames: the minimum
    with pytest.raises(ValueError, match="at least 7 frames, got 6"):
        enc(torch.randn(2, 6, 6))
