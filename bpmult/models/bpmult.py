"""The Biprojection Multimodal Transformer (BPMuLT; paper §4, Fig. 4 and Fig. 7).

Shape legend: ``B`` batch, ``L_M`` length of modality M, ``d`` model width, ``k`` final-GMU
inputs, ``c`` logits.

For each target M3 in (L, V, A), with (M1, M2) the other two modalities:

1. level 1: the six crossmodal transformers ``Z_{M1->M2}`` of MuLT (§4.1);
2. level 2 (biprojection, eq. 2-8): ``Z_{M1->M2=>M3} = CT2(query X_M3, keys/values Z_{M1->M2})``
   and ``Z_{M2->M1=>M3}``;
3. tokens: one step per sequence (last; first for BERT text);
4. level-1 -> level-2 residual (eq. 25-26): ``L1' = L1 + token(Z_{M1->M2})``, ``L2'`` likewise;
5. top FGMU: ``H_M3 = FGMU(L1', L2')`` (eq. 9-12);
6. middle FGMU + level-1 -> level-3 residual (eq. 27):
   ``H'_M3 = FGMU_mid(token(Z_{M1->M2}), token(Z_{M2->M1})) + H_M3``;
7. the simple parallel branch gives ``H_P`` (:mod:`bpmult.models.parallel`);
8. the final GMU (eq. 23) over ``[H'_L, H'_V, H'_A, H_P, H_E...]``, then the residual block
   (eq. 24) on its c outputs (or, as in the authors' code, a width-d GMU and MuLT's head).

The ablations of Table 2 switch steps off or swap them through :class:`ModelConfig` flags.
BPMuLT-with-transformer replaces step 5 by a width-2d memory encoder over ``[L1', L2']``; with
``level1_residual`` and ``middle_fgmu`` on (both named definitions) steps 4 and 6 stay, as the
paper describes (§7.4); the variant's own flags switch them off, as before.
"""

from __future__ import annotations

import torch
from torch import nn

from bpmult.models.config import LETTERS, ModelConfig
from bpmult.models.parallel import ParallelBranch
from bpmult.models.parts import (
    CrossmodalProjections,
    ExtraProjections,
    ModalityInputs,
    MultHead,
    arrow,
    attn_dropout_for,
    fit_to_model_lengths,
    make_encoder,
    take_token,
    token_steps,
    token_gate,
)
from bpmult.nn import GMU, FusionGMU, ResidualBlock
from bpmult.nn.encoder_group import run_encoders

TARGETS = ("text", "video", "audio")

# (M1, M2) per target M3, in the authors' order: L gets (A->V)->L and (V->A)->L first/second
BIPROJECTION_SOURCES = {"text": ("audio", "video"), "video": ("audio", "text"), "audio": ("video", "text")}


def biprojection_key(m1: str, m2: str, m3: str) -> str:
    """Module key of ``CT2(query M3, keys Z_{M1->M2})``: ``"audio_to_video_to_text"``."""
    return f"{m1}_to_{m2}_to_{m3}"


def biprojection_name(m1: str, m2: str, m3: str) -> str:
    """Analysis name of ``Z_{M1->M2=>M3}``: ``"(A->V)->L"``."""
    return f"({arrow(m1, m2)})->{LETTERS[m3]}"


def level2_attn_dropout(cfg: ModelConfig, key_time: str) -> float:
    """Attention dropout of the level-2 transformer whose keys ``Z_{M1->M2}`` live in ``key_time``
    (= M2): ``attn_dropout``, or by key modality (``attn_dropout_a``/``_v``, the authors' code)."""
    return attn_dropout_for(cfg, key_time) if cfg.level2_dropout_by_key else cfg.attn_dropout


def final_input_names(cfg: ModelConfig) -> tuple[str, ...]:
    """Names of the final GMU's inputs, in order (``model.final_inputs``)."""
    names: list[str] = []
    for m3 in TARGETS:
        m1, m2 = BIPROJECTION_SOURCES[m3]
        if cfg.top_fusion == "none":  # the level-2 tokens (with their residuals) go to the GMU
            names += [biprojection_name(m1, m2, m3), biprojection_name(m2, m1, m3)]
            if cfg.final_level1_tokens:  # Fig. 8 order: (A->V)->L, (V->A)->L, V->L, A->L
                names += [arrow(m2, m3), arrow(m1, m3)]
        else:
            names.append(LETTERS[m3])
    if cfg.parallel_branch:
        names.append("P")
    return tuple(names + [name for name, _ in cfg.extras])


class BPMuLT(nn.Module):
    """BPMuLT and its ablations.

    Args:
        cfg: a config with ``architecture="bpmult"``.

    Attributes:
        final_inputs: names of the final GMU's inputs, in order.
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.architecture != "bpmult":
            raise ValueError(f"BPMuLT needs architecture='bpmult', got {cfg.architecture!r}")
        self.config = cfg
        d = cfg.d_model
        self.inputs = ModalityInputs(cfg=cfg)

        # steps 1-2: level-1 and level-2 crossmodal transformers
        self.crossmodal = CrossmodalProjections(cfg=cfg)
        self.biprojection = nn.ModuleDict({
            biprojection_key(a, b, m3): make_encoder(
                cfg, width=d, layers=cfg.layers, attn_dropout=level2_attn_dropout(cfg, b),
                layer_type="mult" if cfg.level2_layer == "cross" else "translating",
                shared_attention=cfg.translating_shared_weights, query_norm=cfg.translating_query_norm,
            )
            for m3 in TARGETS
            for a, b in (BIPROJECTION_SOURCES[m3], BIPROJECTION_SOURCES[m3][::-1])
        })

        # step 4 in the authors' sequence form: level-1 outputs mapped to the target's length
        if cfg.level1_residual_mode == "sequence" and (cfg.level1_residual or cfg.middle_fgmu):
            lengths = cfg.model_lengths
            self.time_adapters = nn.ModuleDict({
                f"{m2}_time_to_{m3}": nn.Linear(lengths[m2], lengths[m3])
                for m3 in TARGETS for m2 in BIPROJECTION_SOURCES[m3]
                if lengths[m2] != lengths[m3]
            })

        # steps 5-6: per-target fusions
        if cfg.top_fusion == "fgmu":
            self.top_fgmu = nn.ModuleDict({m3: FusionGMU(dim=d) for m3 in TARGETS})
        elif cfg.top_fusion == "transformer":
            self.top_transformer = nn.ModuleDict({
                m3: make_encoder(cfg, width=2 * d, layers=cfg.memory_layers, attn_dropout=cfg.attn_dropout)
                for m3 in TARGETS
            })
        if cfg.middle_fgmu:
            self.middle_fgmu = nn.ModuleDict({m3: FusionGMU(dim=d) for m3 in TARGETS})

        # step 7: simple parallel branch
        if cfg.parallel_branch:
            self.parallel = ParallelBranch(cfg=cfg)
        if cfg.extras:
            self.extras = ExtraProjections(cfg=cfg)

        # step 8: final GMU and head
        self.final_inputs = final_input_names(cfg)
        widths = [d] * len(self.final_inputs)
        if cfg.top_fusion == "transformer":  # H_L, H_V, H_A are tokens of width-2d encoders
            widths[:3] = [2 * d] * 3
        gmu_width = cfg.n_outputs if cfg.final_gmu_out == "classes" else d
        self.final_gmu = GMU(in_dims=widths, out_dim=gmu_width)
        if cfg.final_gmu_out == "classes":
            self.head = ResidualBlock(dim=cfg.n_outputs, dropout=cfg.out_dropout)  # eq. 24
        else:
            self.head = MultHead(dim=d, n_outputs=cfg.n_outputs, dropout=cfg.out_dropout)

    def _time_adapt(self, seq: torch.Tensor, *, time_of: str, target: str) -> torch.Tensor:
        """Map ``(B, S_from, d)`` to ``(B, S_target, d)`` over time (identity for equal lengths)."""
        key = f"{time_of}_time_to_{target}"
        if key not in self.time_adapters:
            return seq
        return self.time_adapters[key](seq.transpose(1, 2)).transpose(1, 2)

    def forward(self, batch: dict[str, torch.Tensor], return_analysis: bool = False):
        """Classify a batch.

        Args:
            batch: ``text``, ``video``, ``audio`` ``(B, L_M, orig_d_M)`` and each extra ``(B, w)``.
            return_analysis: also return gates and tokens (see ``docs/design.md`` §2).

        Returns:
            logits ``(B, c)``, or ``(logits, analysis)``.
        """
        cfg = self.config
        tokens: dict[str, torch.Tensor] = {}
        gates: dict[str, torch.Tensor] = {}

        x = self.inputs(batch)  # {m: (B, L_m, d)}
        if cfg.level1_residual_mode == "sequence":  # the authors' code pads every input to a fixed length
            x = fit_to_model_lengths(x, cfg)

        z1 = self.crossmodal(x)  # step 1: {(M1, M2): (B, L_M2, d)}
        for (s, t), seq in z1.items():
            tokens[arrow(s, t)] = take_token(seq, time_of=t, cfg=cfg)

        final: list[torch.Tensor] = []
        biprojections = self._biprojections(x, z1)  # step 2, for every target at once
        for m3 in TARGETS:  # steps 3-6
            final += self._target_vectors(m3, biprojections[m3], z1, tokens, gates)

        if cfg.parallel_branch:  # step 7: H_P
            parallel, parallel_tokens = self.parallel(x)
            tokens.update(parallel_tokens)
            tokens["H_P"] = parallel.fused
            gates["parallel"] = parallel.gates
            final.append(parallel.fused)
        if cfg.extras:
            extras = self.extras(batch)
            tokens.update({f"E_{name}": v for name, v in extras.items()})
            final += list(extras.values())

        out = self.final_gmu(final)  # step 8: eq. 23
        gates["final"] = out.gates
        for i, name in enumerate(self.final_inputs):
            tokens[f"gmu_part_{name}"] = out.parts[:, i]
        logits = self.head(out.fused)  # eq. 24 (or MuLT's head)
        if return_analysis:
            return logits, {"gates": gates, "tokens": tokens}
        return logits

    def _biprojections(
        self, x: dict[str, torch.Tensor], z1: dict[tuple[str, str], torch.Tensor],
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Step 2: per target ``M3`` the two biprojections, query ``X_M3`` and keys/values the
        level-1 outputs ``Z_{M1->M2}`` and ``Z_{M2->M1}`` (eq. 2-8), ``(B, L_M3, d)`` each.

        In token mode only the token's rows of a biprojection are read: its last layer computes
        no others (whole sequences go on in sequence mode and into the transformer top fusion).
        The six encoders run through :func:`~bpmult.nn.encoder_group.run_encoders`, which batches
        those of equal shapes.
        """
        cfg = self.config
        whole = cfg.level1_residual_mode == "sequence" or cfg.top_fusion == "transformer"
        pairs = [(m3, a, b) for m3 in TARGETS
                 for a, b in (BIPROJECTION_SOURCES[m3], BIPROJECTION_SOURCES[m3][::-1])]
        outputs = run_encoders(
            [self.biprojection[biprojection_key(a, b, m3)] for m3, a, b in pairs],
            [x[m3] for m3, _, _ in pairs],
            [z1[(a, b)] for _, a, b in pairs],
            output_steps=[None if whole else token_steps(time_of=m3, cfg=cfg) for m3, _, _ in pairs],
        )
        return {m3: (outputs[2 * i], outputs[2 * i + 1]) for i, m3 in enumerate(TARGETS)}

    def _target_vectors(
        self,
        m3: str,
        biprojections: tuple[torch.Tensor, torch.Tensor],
        z1: dict[tuple[str, str], torch.Tensor],
        tokens: dict[str, torch.Tensor],
        gates: dict[str, torch.Tensor],
    ) -> list[torch.Tensor]:
        """Steps 3-6 for target ``m3``: the vectors it sends to the final GMU.

        Records its tokens and gates in ``tokens`` and ``gates``.

        Args:
            biprojections: step 2's ``(Z_{M1->M2->M3}, Z_{M2->M1->M3})`` (:meth:`_biprojections`).

        Returns:
            ``[H'_M3]`` (width d; 2d for the transformer ablation), or without FGMUs the two
            level-2 tokens (and, for all-transformers, the two level-1 tokens into M3).
        """
        cfg = self.config
        m1, m2 = BIPROJECTION_SOURCES[m3]
        letter = LETTERS[m3]
        sequence_mode = cfg.level1_residual_mode == "sequence"
        bi1, bi2 = biprojections
        name1, name2 = biprojection_name(m1, m2, m3), biprojection_name(m2, m1, m3)
        tokens[name1] = take_token(bi1, time_of=m3, cfg=cfg)  # step 3
        tokens[name2] = take_token(bi2, time_of=m3, cfg=cfg)

        if cfg.top_fusion == "transformer":
            return self._transformer_fusion(m3, bi1, bi2, z1, tokens, gates)

        # step 4: level-1 -> level-2 residual (eq. 25-26) on tokens, or on whole sequences
        if sequence_mode:
            level2 = [bi1, bi2]
            if cfg.level1_residual or cfg.middle_fgmu:
                level1 = [self._time_adapt(z1[(m1, m2)], time_of=m2, target=m3),
                          self._time_adapt(z1[(m2, m1)], time_of=m1, target=m3)]
        else:
            level2 = [tokens[name1], tokens[name2]]
            level1 = [tokens[arrow(m1, m2)], tokens[arrow(m2, m1)]]
        if cfg.level1_residual:
            level2 = [level2[0] + level1[0], level2[1] + level1[1]]

        def as_token(v: torch.Tensor) -> torch.Tensor:  # sequences become tokens after the fusions
            return take_token(v, time_of=m3, cfg=cfg) if sequence_mode else v

        def as_token_gate(g: torch.Tensor) -> torch.Tensor:
            return token_gate(g, time_of=m3, cfg=cfg) if sequence_mode else g

        if cfg.top_fusion == "none":  # ablation: no FGMUs; the level-2 tokens go to the final GMU
            vectors = [as_token(level2[0]), as_token(level2[1])]
            if cfg.final_level1_tokens:  # all-transformers: also the level-1 tokens into M3
                vectors += [tokens[arrow(m2, m3)], tokens[arrow(m1, m3)]]
            return vectors

        top = self.top_fgmu[m3](level2)  # step 5: H_M3 = FGMU(L1', L2') (eq. 9-12)
        gates[f"top_{letter}"] = as_token_gate(top.gates)
        tokens[f"H_{letter}"] = as_token(top.fused)
        fused = top.fused
        if cfg.middle_fgmu:  # step 6: H'_M3 = FGMU_mid(level-1) + H_M3 (eq. 27)
            middle = self.middle_fgmu[m3](level1)
            gates[f"middle_{letter}"] = as_token_gate(middle.gates)
            fused = fused + middle.fused
        tokens[f"H'_{letter}"] = as_token(fused)
        return [tokens[f"H'_{letter}"]]

    def _level1_terms(self, m3: str, z1: dict[tuple[str, str], torch.Tensor],
                      tokens: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The level-1 terms of eq. 25-27 for target ``m3``: time-adapted sequences (sequence
        mode) or tokens ``[token(Z_{M1->M2}), token(Z_{M2->M1})]``."""
        m1, m2 = BIPROJECTION_SOURCES[m3]
        if self.config.level1_residual_mode == "sequence":
            return [self._time_adapt(z1[(m1, m2)], time_of=m2, target=m3),
                    self._time_adapt(z1[(m2, m1)], time_of=m1, target=m3)]
        return [tokens[arrow(m1, m2)], tokens[arrow(m2, m1)]]

    def _transformer_fusion(
        self,
        m3: str,
        bi1: torch.Tensor,
        bi2: torch.Tensor,
        z1: dict[tuple[str, str], torch.Tensor],
        tokens: dict[str, torch.Tensor],
        gates: dict[str, torch.Tensor],
    ) -> list[torch.Tensor]:
        """BPMuLT-with-transformer: a width-2d memory encoder over ``[L1', L2']`` replaces the
        top FGMU (§7.4). ``level1_residual`` adds the level-1 terms to ``bi1``, ``bi2`` first
        (a token is added at every step); ``middle_fgmu`` adds ``[M, M]`` to the 2d token."""
        cfg = self.config
        letter = LETTERS[m3]
        level1 = self._level1_terms(m3, z1, tokens) if (cfg.level1_residual or cfg.middle_fgmu) else []
        if cfg.level1_residual:  # eq. 25-26 on sequences; a token broadcasts over time
            bi1 = bi1 + (level1[0] if level1[0].ndim == 3 else level1[0].unsqueeze(1))
            bi2 = bi2 + (level1[1] if level1[1].ndim == 3 else level1[1].unsqueeze(1))
        h = self.top_transformer[m3](torch.cat([bi1, bi2], dim=-1),
                                     output_steps=token_steps(time_of=m3, cfg=cfg))  # its token's rows of (B, L_M3, 2d)
        tokens[f"H_{letter}"] = take_token(h, time_of=m3, cfg=cfg)
        if not cfg.middle_fgmu:
            return [tokens[f"H_{letter}"]]
        middle = self.middle_fgmu[m3](level1)  # eq. 27, its d-wide output over both halves
        fused = middle.fused if middle.fused.ndim == 2 else take_token(middle.fused, time_of=m3, cfg=cfg)
        gates[f"middle_{letter}"] = middle.gates if middle.gates.ndim == 2 else token_gate(middle.gates, time_of=m3, cfg=cfg)
        tokens[f"H'_{letter}"] = tokens[f"H_{letter}"] + torch.cat([fused, fused], dim=-1)
        return [tokens[f"H'_{letter}"]]
