"""Pieces shared by MuLT and BPMuLT: input projections, the six level-1 crossmodal transformers,
tokens, extra vectors and MuLT's output head.

Shape legend: ``B`` batch, ``L_M`` length of modality M, ``d`` model width, ``C`` logits.

Naming: "M1 -> M2" is M1 projected into M2's space: a crossmodal transformer whose *query* is M2
and whose keys/values are M1 (official MuLT's ``trans_{m2}_with_{m1}``). Modules are keyed
``"audio_to_text"``; analysis names use the paper's letters, ``"A->L"``.
"""

from __future__ import annotations

import torch
from torch import nn

from bpmult.models.config import LETTERS, MODALITIES, ModelConfig
from bpmult.models.text_encoder import TextEncoder
from bpmult.nn import AudioEncoder, ResidualBlock, TransformerEncoder
from bpmult.nn.dropout import dropout
from bpmult.nn.encoder_group import run_encoders
from bpmult.nn.time_reduction import fit_length

# level-1 transformers in the order official MuLT concatenates them per target: [with_l, with_a, with_v]
_OFFICIAL_ORDER = ("text", "audio", "video")
LEVEL1_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (source, target) for target in _OFFICIAL_ORDER for source in _OFFICIAL_ORDER if source != target
)


def sources_of(target: str) -> list[str]:
    """The two other modalities, in official MuLT's concatenation order for ``target``."""
    return [s for s, t in LEVEL1_PAIRS if t == target]


def pair_key(source: str, target: str) -> str:
    """Module key of the transformer projecting ``source`` into ``target``: ``"audio_to_text"``."""
    return f"{source}_to_{target}"


def arrow(source: str, target: str) -> str:
    """Analysis name of ``source`` projected into ``target``: ``"A->L"``."""
    return f"{LETTERS[source]}->{LETTERS[target]}"


def attn_dropout_for(cfg: ModelConfig, kv_modality: str | None) -> float:
    """MuLT's attention dropout by key modality: audio ``attn_dropout_a``, video ``attn_dropout_v``,
    text and everything else ``attn_dropout``."""
    return {"audio": cfg.attn_dropout_a, "video": cfg.attn_dropout_v}.get(kv_modality, cfg.attn_dropout)


def make_encoder(cfg: ModelConfig, *, width: int, layers: int, attn_dropout: float, **kwargs) -> TransformerEncoder:
    """A :class:`TransformerEncoder` with the config's dropouts and mask."""
    return TransformerEncoder(
        embed_dim=width, num_heads=cfg.num_heads, layers=layers, attn_dropout=attn_dropout,
        relu_dropout=cfg.relu_dropout, res_dropout=cfg.res_dropout, embed_dropout=cfg.embed_dropout,
        attn_mask=cfg.attn_mask, **kwargs,
    )


def take_token(seq: torch.Tensor, *, time_of: str, cfg: ModelConfig) -> torch.Tensor:
    """The one step of ``seq`` used for prediction (paper §4.4).

    Args:
        seq: ``(B, L, W)`` (or ``(B, L, ...)``) a sequence in the time axis of modality ``time_of``
            (a transformer's output has its query's time axis).
        time_of: the modality whose time axis ``seq`` has.
        cfg: reads ``token`` and ``text_first_token_is_cls``.

    Returns:
        ``(B, W)``.
    """
    if cfg.token == "first_plus_last":
        return seq[:, 0] + seq[:, -1]
    if cfg.token == "first_for_bert_text" and time_of == "text" and cfg.text_first_token_is_cls:
        return seq[:, 0]  # the [CLS] position
    return seq[:, -1]


def token_steps(*, time_of: str, cfg: ModelConfig) -> tuple[int, ...]:
    """The steps :func:`take_token` reads, for an encoder that computes only those rows in its
    last layer (``TransformerEncoder(..., output_steps=...)``); ``take_token`` applied to that
    output gives the same token as applied to the full sequence."""
    if cfg.token == "first_plus_last":
        return (0, -1)
    if cfg.token == "first_for_bert_text" and time_of == "text" and cfg.text_first_token_is_cls:
        return (0,)
    return (-1,)


def token_gate(gates: torch.Tensor, *, time_of: str, cfg: ModelConfig) -> torch.Tensor:
    """Gates of a fusion over sequences, read at the token's step (first+last: their mean)."""
    if cfg.token == "first_plus_last":
        return 0.5 * (gates[:, 0] + gates[:, -1])
    return take_token(gates, time_of=time_of, cfg=cfg)


def read_input(batch: dict[str, torch.Tensor], name: str, width: int, ndim: int) -> torch.Tensor:
    """``batch[name]`` after checking it exists and has the expected rank and last width."""
    if name not in batch:
        raise KeyError(f"the batch has no {name!r} (keys: {sorted(batch)})")
    x = batch[name]
    if x.ndim != ndim or x.shape[-1] != width:
        expected = "(B, L, %d)" % width if ndim == 3 else "(B, %d)" % width
        raise ValueError(f"batch[{name!r}] has shape {tuple(x.shape)}, expected {expected}")
    return x


class ModalityInputs(nn.Module):
    """Audio encoder (optional), text embedding dropout and the per-modality Conv1d projections.

    ``Conv1d(orig_d_M -> d, kernel k_M, padding (k_M - 1) // 2, bias=False)`` over time (spec
    §1.1); skipped for a modality already of width d when ``skip_equal_projection`` (MuLT).

    Args:
        cfg: the model config.
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.audio_encoder:
            self.audio_encoder = AudioEncoder(
                channels=cfg.orig_d_audio, kernel=cfg.audio_encoder_kernel,
                stride=cfg.audio_encoder_stride, pooled_len=cfg.audio_encoder_len,
            )
        if cfg.text_encoder is not None:  # BERT inside the model (fine-tuned or frozen)
            self.text_encoder = TextEncoder(name=cfg.text_encoder, mode=cfg.text_encoder_mode, width=cfg.orig_d_text)
        self.project = nn.ModuleDict({
            m: nn.Conv1d(width, cfg.d_model, cfg.kernels[m], padding=(cfg.kernels[m] - 1) // 2, bias=False)
            for m, width in cfg.orig_dims.items()
            if not (cfg.skip_equal_projection and width == cfg.d_model)
        })

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Project the three sequences.

        Args:
            batch: ``text (B, L_L, orig_d_text)``, ``video (B, L_V, orig_d_video)``,
                ``audio (B, L_A, orig_d_audio)`` (a time-major spectrogram with the audio encoder).
                With a text encoder, ``text_ids (B, L_L)`` and ``text_mask (B, L_L)`` replace ``text``.

        Returns:
            ``{modality: (B, L_M, d)}`` (audio: ``L_A = audio_encoder_len`` with the encoder).
        """
        out = {}
        for m in MODALITIES:
            if m == "text" and self.cfg.text_encoder is not None:
                for key in ("text_ids", "text_mask"):
                    if key not in batch:
                        raise KeyError(f"the model runs its text encoder and needs batch[{key!r}] (keys: {sorted(batch)})")
                x = self.text_encoder(batch["text_ids"], batch["text_mask"])
            else:
                x = read_input(batch, m, self.cfg.orig_dims[m], ndim=3)
            if m == "audio" and self.cfg.audio_encoder:
                x = self.audio_encoder(x)
            if m == "text":  # MuLT: embedding dropout on the text input only
                x = dropout(x, p=self.cfg.embed_dropout, training=self.training)
            if m in self.project:
                x = self.project[m](x.transpose(1, 2)).transpose(1, 2)
            out[m] = x
        return out


def fit_to_model_lengths(x: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Zero-pad or truncate every projected sequence to its ``S_M`` (:attr:`ModelConfig.model_lengths`)."""
    return {m: fit_length(seq, cfg.model_lengths[m]) for m, seq in x.items()}


class CrossmodalProjections(nn.ModuleDict):
    """The six level-1 crossmodal transformers ``Z_{M1->M2}`` (paper §4.1; MuLT).

    Each has ``layers`` layers of width d and MuLT's attention dropout of its key modality.
    Keys ``"audio_to_text"`` etc. (query text, keys/values audio).

    Args:
        cfg: the model config.
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__({
            pair_key(source, target): make_encoder(
                cfg, width=cfg.d_model, layers=cfg.layers, attn_dropout=attn_dropout_for(cfg, source)
            )
            for source, target in LEVEL1_PAIRS
        })

    def forward(self, x: dict[str, torch.Tensor]) -> dict[tuple[str, str], torch.Tensor]:
        """Args: x ``{modality: (B, L_M, d)}``. Returns ``{(source, target): (B, L_target, d)}``."""
        # same-shape encoders run as one batched computation (bpmult.nn.encoder_group)
        outputs = run_encoders([self[pair_key(s, t)] for s, t in LEVEL1_PAIRS],
                               [x[t] for _, t in LEVEL1_PAIRS], [x[s] for s, _ in LEVEL1_PAIRS])
        return dict(zip(LEVEL1_PAIRS, outputs))


class ExtraProjections(nn.ModuleDict):
    """``H_E = Linear(orig_d_E -> d)`` for every extra vector (poster, metadata).

    With a bias (``extra_bias``), as MuLT-GMU's ``proj_poster``; the authors' BPMuLT code uses none.

    Args:
        cfg: the model config (reads ``extras``, ``extra_bias`` and ``d_model``).
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__({name: nn.Linear(width, cfg.d_model, bias=cfg.extra_bias) for name, width in cfg.extras})
        self.widths = dict(cfg.extras)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Args: batch with ``(B, orig_d_E)`` per extra. Returns ``{name: (B, d)}``."""
        return {name: layer(read_input(batch, name, self.widths[name], ndim=2)) for name, layer in self.items()}


class MultHead(nn.Module):
    """MuLT's output head: ``out_layer(proj2(drop(relu(proj1(h)))) + h)``.

    Args:
        dim: width of ``h``.
        n_outputs: C, the number of logits.
        dropout: MuLT's ``out_dropout``.
    """

    def __init__(self, *, dim: int, n_outputs: int, dropout: float) -> None:
        super().__init__()
        self.residual = ResidualBlock(dim=dim, dropout=dropout)
        self.out_layer = nn.Linear(dim, n_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Args: h ``(B, dim)``. Returns logits ``(B, C)``."""
        return self.out_layer(self.residual(h))
