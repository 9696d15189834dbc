"""MuLT (Tsai et al. 2019) and MuLT-GMU (Rodríguez-Bribiesca et al. 2021), one class over flags.

Shape legend: ``B`` batch, ``L_M`` length of modality M, ``d`` model width, ``C`` logits.

- ``mult`` (``mult_fusion="concat"``): the official MuLT. Six crossmodal transformers; per target
  a memory self-attention encoder (width 2d, ``max(layers, 3)`` layers) over its two crossmodal
  outputs concatenated along features; the last steps ``[h_L, h_A, h_V]`` concatenated
  (``last_hs``, width 6d) and any extra vectors' projections; MuLT's residual head and output
  layer. With the official weights it reproduces the official outputs
  (:mod:`bpmult.models.official`).
- ``mult_gmu`` (``mult_fusion="gmu"``): a k-way GMU of width d over ``[h_L, h_V, h_A, extras]``
  replaces the concatenation; then the same head.
- ``mult_gmu_no_encoder`` (``memory_encoders=False``): the GMU fuses the six level-1 tokens and
  the extras directly.
"""

from __future__ import annotations

import torch
from torch import nn

from bpmult.models.config import LETTERS, ModelConfig
from bpmult.models.parts import (
    CrossmodalProjections,
    ExtraProjections,
    ModalityInputs,
    MultHead,
    arrow,
    make_encoder,
    sources_of,
    take_token,
    token_steps,
)
from bpmult.nn import GMU
from bpmult.nn.encoder_group import run_encoders

# official order of the final concatenation, and MuLT-GMU's order of the GMU inputs
CONCAT_ORDER = ("text", "audio", "video")
GMU_ORDER = ("text", "video", "audio")


class MulT(nn.Module):
    """MuLT and MuLT-GMU.

    Args:
        cfg: a config with ``architecture="mult"``.

    Attributes:
        final_inputs: names of the final GMU's inputs, in order (empty for the concatenation).
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.architecture != "mult":
            raise ValueError(f"MulT needs architecture='mult', got {cfg.architecture!r}")
        self.config = cfg
        d = cfg.d_model
        self.inputs = ModalityInputs(cfg=cfg)
        self.crossmodal = CrossmodalProjections(cfg=cfg)
        if cfg.memory_encoders:
            self.memory = nn.ModuleDict({
                m: make_encoder(cfg, width=2 * d, layers=cfg.memory_layers, attn_dropout=cfg.attn_dropout)
                for m in CONCAT_ORDER
            })
        if cfg.extras:
            self.extras = ExtraProjections(cfg=cfg)
        extra_names = [name for name, _ in cfg.extras]

        if cfg.mult_fusion == "concat":
            self.final_inputs: tuple[str, ...] = ()
            head_dim = 6 * d + d * len(extra_names)
        else:
            names = self._token_names(GMU_ORDER) + extra_names
            widths = [2 * d if cfg.memory_encoders else d] * (len(names) - len(extra_names)) + [d] * len(extra_names)
            self.final_inputs = tuple(names)
            self.final_gmu = GMU(in_dims=widths, out_dim=d)
            head_dim = d
        self.head = MultHead(dim=head_dim, n_outputs=cfg.n_outputs, dropout=cfg.out_dropout)

    def _token_names(self, order: tuple[str, ...]) -> list[str]:
        """Names of the per-target tokens in ``order``: ``"L"`` (memory) or the two CT arrows."""
        if self.config.memory_encoders:
            return [LETTERS[m] for m in order]
        return [arrow(s, t) for t in order for s in sources_of(t)]

    def forward(self, batch: dict[str, torch.Tensor], return_analysis: bool = False):
        """Classify a batch.

        Args:
            batch: ``text``, ``video``, ``audio`` ``(B, L_M, orig_d_M)`` and each extra ``(B, w)``.
            return_analysis: also return gates and tokens (see ``docs/design.md`` §2).

        Returns:
            logits ``(B, C)``, or ``(logits, analysis)``.
        """
        cfg = self.config
        x = self.inputs(batch)
        z = self.crossmodal(x)  # {(source, target): (B, L_target, d)}
        tokens = {arrow(s, t): take_token(seq, time_of=t, cfg=cfg) for (s, t), seq in z.items()}
        gates: dict[str, torch.Tensor] = {}

        # per target: the memory encoder's last step, or the two level-1 tokens
        per_target: dict[str, list[torch.Tensor]] = {}
        if cfg.memory_encoders:
            # only the token's rows leave a memory encoder (its last layer computes no others);
            # same-shape encoders run as one batched computation
            memory = run_encoders(
                [self.memory[t] for t in CONCAT_ORDER],
                [torch.cat([z[(s, t)] for s in sources_of(t)], dim=-1) for t in CONCAT_ORDER],
                output_steps=[token_steps(time_of=t, cfg=cfg) for t in CONCAT_ORDER],
            )  # each (B, 1 or 2, 2d)
            for target, h in zip(CONCAT_ORDER, memory):
                tokens[f"h_{LETTERS[target]}"] = take_token(h, time_of=target, cfg=cfg)
                per_target[target] = [tokens[f"h_{LETTERS[target]}"]]
        else:
            for target in CONCAT_ORDER:
                per_target[target] = [tokens[arrow(s, target)] for s in sources_of(target)]
        extras = self.extras(batch) if cfg.extras else {}

        if cfg.mult_fusion == "concat":
            last_hs = torch.cat([t for m in CONCAT_ORDER for t in per_target[m]], dim=-1)  # (B, 6d)
            tokens["last_hs"] = last_hs
            head_input = torch.cat([last_hs, *extras.values()], dim=-1)
        else:
            fused = self.final_gmu([t for m in GMU_ORDER for t in per_target[m]] + list(extras.values()))
            gates["final"] = fused.gates
            for i, name in enumerate(self.final_inputs):
                tokens[f"gmu_part_{name}"] = fused.parts[:, i]
            head_input = fused.fused
        tokens.update({f"E_{name}": v for name, v in extras.items()})
        logits = self.head(head_input)
        if return_analysis:
            return logits, {"gates": gates, "tokens": tokens}
        return logits
