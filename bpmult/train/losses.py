"""The losses of the two tasks and the probabilities they imply.

``multilabel`` (Moviescope, MM-IMDb, CMU-MOSEI): BCE with logits, optionally weighted by
``pos_weight = N / freq`` (the authors' ``--weight_classes``). ``iemocap``: MuLT's cross-entropy
per emotion on a 4 × 2 head, logits laid out ``[emo0_neg, emo0_pos, emo1_neg, ...]``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TASKS = ("multilabel", "iemocap")


def pos_weight(train_labels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """BCE ``pos_weight = N / freq`` per class (the authors' ``(freq / N) ** -1``).

    A class without any positive training sample gets weight 1: its weight would be infinite, and
    it only ever multiplies positive targets, of which training has none.

    Args:
        train_labels: (N, C) multi-hot training labels.

    Returns:
        (C,) float32 weights.
    """
    labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.float64)
    if labels.ndim != 2:
        raise ValueError(f"pos_weight: train labels must be (N, C); got shape {tuple(labels.shape)}")
    freq = labels.sum(dim=0)
    weight = torch.where(freq > 0, labels.shape[0] / freq.clamp(min=1), torch.ones_like(freq))
    return weight.float()


def iemocap_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MuLT's IEMOCAP loss: cross-entropy per emotion over its (negative, positive) logits.

    Args:
        logits: (B, 2E) laid out ``[emo0_neg, emo0_pos, emo1_neg, ...]``.
        labels: (B, E) int64 in {0, 1}.

    Returns:
        The mean over the B·E binary problems.
    """
    if logits.shape[-1] != 2 * labels.shape[-1]:
        raise ValueError(f"iemocap_loss: logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)} (need 2 per emotion)")
    return F.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1).long())


class TaskLoss(nn.Module):
    """The loss of a task: ``multilabel`` (weighted BCE with logits) or ``iemocap`` (4 × 2-way CE).

    Args:
        task: the manifest's ``task``.
        pos_weight: (C,) BCE positive-class weights, or None for unweighted BCE.
    """

    def __init__(self, task: str, pos_weight: torch.Tensor | None = None):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected 'multilabel' or 'iemocap'")
        self.task = task
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # the loss in float32 also under bf16 autocast
        if self.task == "iemocap":
            return iemocap_loss(logits, labels)
        return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=self.pos_weight)


def probabilities(task: str, logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid probabilities (B, C), or for IEMOCAP softmax probabilities (B, E, 2)."""
    logits = logits.float()
    if task == "iemocap":
        return logits.reshape(logits.shape[0], -1, 2).softmax(dim=-1)
    return logits.sigmoid()
