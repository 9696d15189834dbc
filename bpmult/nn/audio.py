"""The audio encoder of MuLT-GMU and BPMuLT for mel spectrograms (Moviescope).

Shape legend: ``B`` batch, ``T`` spectrogram frames, ``C`` mel bins (96), ``P`` pooled length.

Two ``Conv1d(C -> C, kernel, stride)`` over time, then ``AdaptiveAvgPool1d(P)``; the paper uses
kernel 128, stride 2 and P = 200, which needs ``T >= 382``. No activation sits between the layers:
the descriptions of MuLT-GMU's and the authors' ``AudioEncoder`` list none.
"""

from __future__ import annotations

import torch
from torch import nn


def min_audio_frames(*, kernel: int, stride: int) -> int:
    """The shortest spectrogram two ``Conv1d(kernel, stride)`` accept (one output step)."""
    return kernel + stride * (kernel - 1)


class AudioEncoder(nn.Module):
    """Two strided convolutions over time and an adaptive average pool to ``pooled_len`` steps.

    Args:
        channels: C, the number of mel bins (kept by both convolutions).
        kernel: convolution kernel size over time.
        stride: convolution stride.
        pooled_len: P, the output length.
    """

    def __init__(self, *, channels: int, kernel: int, stride: int, pooled_len: int) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv1d(channels, channels, kernel, stride=stride),
            nn.Conv1d(channels, channels, kernel, stride=stride),
        )
        self.pool = nn.AdaptiveAvgPool1d(pooled_len)
        self.min_frames = min_audio_frames(kernel=kernel, stride=stride)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Args: spectrogram ``(B, T, C)`` time-major. Returns ``(B, P, C)``."""
        frames = spectrogram.shape[1]
        if frames < self.min_frames:
            raise ValueError(f"audio encoder needs at least {self.min_frames} frames, got {frames}")
        x = self.conv_layers(spectrogram.transpose(1, 2))
        return self.pool(x).transpose(1, 2)
