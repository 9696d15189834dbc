"""BPMuLT's simple parallel branch (paper §4.5-4.7, Fig. 2).

Shape legend: ``B`` batch, ``S_M`` fixed length of modality M, ``T`` reduced length (32),
``d`` model width.

Per modality: the projected sequence, zero-padded/truncated to ``S_M``, is reduced over time to
``T`` steps by a learnable ``W_m`` (eq. 13); the encoder adds the positional embedding and runs
self-attention layers (eq. 14-19); one token is taken (first for BERT text, else last). The three
tokens are fused into ``H_P`` by an extended FGMU (eq. 20-22), or by a plain k-way GMU as in the
authors' code.
"""

from __future__ import annotations

import torch
from torch import nn

from bpmult.models.config import LETTERS, MODALITIES, ModelConfig
from bpmult.models.parts import make_encoder, take_token, token_steps
from bpmult.nn import GMU, ExtendedFusionGMU, GatedOutput, TimeReduction
from bpmult.nn.encoder_group import run_encoders


class ParallelBranch(nn.Module):
    """Time reduction, a self-attention encoder per modality, and an extended FGMU.

    Args:
        cfg: the model config (reads ``parallel_len``, ``parallel_layers``, ``parallel_fusion``
            and the fixed lengths ``model_lengths``).
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        depth = cfg.parallel_layers if cfg.parallel_layers is not None else max(cfg.layers, 3)
        self.time_reduction = nn.ModuleDict({
            m: TimeReduction(in_len=cfg.model_lengths[m], out_len=cfg.parallel_len) for m in MODALITIES
        })
        self.encoders = nn.ModuleDict({
            m: make_encoder(cfg, width=d, layers=depth, attn_dropout=cfg.attn_dropout) for m in MODALITIES
        })
        if cfg.parallel_fusion == "extended_fgmu":
            self.fusion = ExtendedFusionGMU(dim=d, num_inputs=len(MODALITIES))
        else:
            self.fusion = GMU(in_dims=[d] * len(MODALITIES), out_dim=d)

    def forward(self, x: dict[str, torch.Tensor]) -> tuple[GatedOutput, dict[str, torch.Tensor]]:
        """Summarise the three projected sequences into ``H_P``.

        Args:
            x: ``{modality: (B, L_M, d)}`` the projected inputs.

        Returns:
            The fusion's :class:`GatedOutput` (``fused`` = ``H_P (B, d)``, ``gates (B, 3, d)``) and
            the per-modality tokens ``{"parallel_L": (B, d), ...}``.
        """
        reduced = [self.time_reduction[m](x[m]) for m in MODALITIES]  # eq. 13: (B, T, d) each
        # eq. 14-19, positional embedding inside; only the token's rows leave the last layer; the
        # three encoders (all of length T) run as one batched computation
        encoded = run_encoders([self.encoders[m] for m in MODALITIES], reduced,
                               output_steps=[token_steps(time_of=m, cfg=self.cfg) for m in MODALITIES])
        tokens = {f"parallel_{LETTERS[m]}": take_token(seq, time_of=m, cfg=self.cfg)
                  for m, seq in zip(MODALITIES, encoded)}
        return self.fusion(list(tokens.values())), tokens
