"""The GMU baseline of Arevalo et al. (2017) for MM-IMDb.

Shape legend: ``B`` batch, ``L`` length, ``w_t`` sequence width, ``w_e`` extra width,
``d`` hidden width, ``C`` logits.

A bimodal GMU (``h = z tanh(W_t x_t) + (1 - z) tanh(W_e x_e)``, ``z = sigmoid(W_z [x_t, x_e])``)
over a text vector and the poster vector, then an MLP classifier. The text vector is the mean over
time of one sequence input (``gmu_text_modality``; on MM-IMDb our ``video`` slot holds the GloVe
word vectors of the plot), taken over its non-padding steps (steps that are not all zeros), as
Arevalo et al. average the word vectors of the plot.

Simplifications, stated: the MLP is ``Linear -> ReLU -> dropout -> Linear`` (hidden width
``d_model``, dropout ``out_dropout``) instead of Arevalo's batch-normalised maxout layers, and the
GMU's gate reads the raw inputs, as in the GMU paper's equations (their code gates the projected
features).
"""

from __future__ import annotations

import torch
from torch import nn

from bpmult.models.config import LETTERS, ModelConfig
from bpmult.models.parts import read_input
from bpmult.nn import BimodalGMU


def mean_over_steps(seq: torch.Tensor) -> torch.Tensor:
    """Mean of ``(B, L, w)`` over the steps that are not all zeros; ``(B, w)`` (zeros if none)."""
    real = (seq != 0).any(dim=-1, keepdim=True).to(seq.dtype)  # (B, L, 1)
    return (seq * real).sum(dim=1) / real.sum(dim=1).clamp(min=1.0)


class GMUClassifier(nn.Module):
    """Arevalo et al.'s GMU over a mean sequence vector and one extra vector, then an MLP.

    Args:
        cfg: a config with ``architecture="gmu"`` and exactly one extra.

    Attributes:
        final_inputs: ``("mean_V", "poster")`` style names of the two GMU inputs.
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.architecture != "gmu":
            raise ValueError(f"GMUClassifier needs architecture='gmu', got {cfg.architecture!r}")
        self.config = cfg
        (extra_name, extra_width), = cfg.extras
        self.sequence = cfg.gmu_text_modality
        self.extra_name = extra_name
        self.final_inputs = (f"mean_{LETTERS[self.sequence]}", extra_name)
        self.gmu = BimodalGMU(in_dims=[cfg.orig_dims[self.sequence], extra_width], out_dim=cfg.d_model)
        self.classifier = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model),
            nn.ReLU(),
            nn.Dropout(cfg.out_dropout),
            nn.Linear(cfg.d_model, cfg.n_outputs),
        )

    def forward(self, batch: dict[str, torch.Tensor], return_analysis: bool = False):
        """Classify a batch.

        Args:
            batch: the sequence ``(B, L, w_t)`` under ``gmu_text_modality`` and the extra ``(B, w_e)``.
            return_analysis: also return gates and tokens.

        Returns:
            logits ``(B, C)``, or ``(logits, analysis)`` with ``gates["final"] (B, 2, d)``.
        """
        cfg = self.config
        text = mean_over_steps(read_input(batch, self.sequence, cfg.orig_dims[self.sequence], ndim=3))
        extra = read_input(batch, self.extra_name, dict(cfg.extras)[self.extra_name], ndim=2)
        out = self.gmu([text, extra])
        logits = self.classifier(out.fused)
        if not return_analysis:
            return logits
        tokens = {self.final_inputs[0]: text, "fused": out.fused}
        tokens.update({f"gmu_part_{name}": out.parts[:, i] for i, name in enumerate(self.final_inputs)})
        return logits, {"gates": {"final": out.gates}, "tokens": tokens}
