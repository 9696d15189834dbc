"""``ModelConfig``: one frozen dataclass describes every model of the package.

Every variant (BPMuLT, its ablations, MuLT, MuLT-GMU, GMU) is a set of values of these fields,
registered by name in :mod:`bpmult.models.registry`; no variant is a subclass. Where the paper and
the authors' released code differ (the fidelity table of the specification), the field's default
is the paper and the code's choice is another value of the same field.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from bpmult.nn.audio import min_audio_frames

MODALITIES = ("text", "video", "audio")
"""The three sequence modalities, by their batch keys."""

LETTERS = {"text": "L", "video": "V", "audio": "A"}
"""The paper's letter of each modality, used in analysis names such as ``"A->V"``."""

_CHOICES: dict[str, tuple[Any, ...]] = {
    "architecture": ("bpmult", "mult", "gmu"),
    "head": ("multilabel", "iemocap"),
    "mult_fusion": ("concat", "gmu"),
    "token": ("first_for_bert_text", "last", "first_plus_last"),
    "level2_layer": ("cross", "translating"),
    "top_fusion": ("fgmu", "transformer", "none"),
    "level1_residual_mode": ("token", "sequence"),
    "parallel_fusion": ("extended_fgmu", "gmu"),
    "final_gmu_out": ("classes", "hidden"),
    "gmu_text_modality": MODALITIES,
    "text_encoder_mode": ("frozen", "finetune"),
}


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """All settings of a model. Build one with :func:`bpmult.models.variant_config`.

    Attributes:
        architecture: which model family builds it: ``"bpmult"`` (:mod:`bpmult.models.bpmult`),
            ``"mult"`` (MuLT and MuLT-GMU, :mod:`bpmult.models.mult`) or ``"gmu"`` (Arevalo's
            GMU classifier, :mod:`bpmult.models.baselines`).

        orig_d_text: feature width of the ``text`` input (768 for BERT, 300 for GloVe).
        orig_d_video: feature width of the ``video`` input (4096 VGG16 frames, 35 FACET, ...).
        orig_d_audio: feature width of the ``audio`` input (96 mel bins, 74 COVAREP, 1 BoW).
        extras: non-sequential vectors and their widths, e.g. ``(("poster", 4096),)``; each is
            read from the batch under its name and projected to ``d_model`` (``H_E``).
        len_text: S_L, the text length the model is built for (from the data). Used where a
            fixed length is needed: the parallel branch's time reduction (eq. 13) and the
            sequence-level residual; inputs of another length are zero-padded or truncated there.
        len_video: S_V, likewise.
        len_audio: the audio length *as given to the model* (before the audio encoder, if any).
        text_first_token_is_cls: the text features come from BERT-like encoders whose first step
            is [CLS] (read by ``token="first_for_bert_text"``).
        kernel_text: Conv1d kernel of the text input projection (odd; official MuLT: 1).
        kernel_video: Conv1d kernel of the video input projection (odd).
        kernel_audio: Conv1d kernel of the audio input projection (odd).
        skip_equal_projection: skip the input Conv1d of a modality whose width already equals
            ``d_model``, as official MuLT and the authors' code do (e.g. BERT 768 into d 768).
        audio_encoder: pass the audio (a time-major mel spectrogram) through the audio encoder
            (two Conv1d, then adaptive average pooling) before the projection (Moviescope).
        audio_encoder_kernel: kernel of both audio convolutions (paper 128).
        audio_encoder_stride: stride of both audio convolutions (paper 2).
        audio_encoder_len: length after the pooling (paper 200).

        d_model: d, the width of every crossmodal transformer (memory encoders: 2d).
        num_heads: attention heads; must divide ``d_model``.
        layers: D, layers of each crossmodal transformer (paper §4.3: 3; authors' commands: 5
            for Moviescope/MM-IMDb, 8 for IEMOCAP/MOSEI).
        attn_dropout: attention dropout of transformers whose keys come from text, of the memory
            encoders and of all level-2/parallel encoders (MuLT name and default).
        attn_dropout_a: attention dropout of transformers whose keys are audio (MuLT).
        attn_dropout_v: attention dropout of transformers whose keys are video (MuLT).
        relu_dropout: dropout after the feed-forward ReLU (MuLT).
        res_dropout: dropout on residual branches inside the transformers (MuLT).
        embed_dropout: dropout on the text input and after every positional embedding (MuLT).
        out_dropout: dropout inside the residual head (eq. 24; MuLT's ``out_dropout``).
        attn_mask: MuLT's attention mask, allowed = ``ones(Lq, Lk).tril(|Lk - Lq|)``
            (official default: on).
        level2_dropout_by_key: the six level-2 transformers take MuLT's attention dropout of the
            modality whose time axis their keys live in (``attn_dropout_a`` / ``attn_dropout_v``
            for the four keyed by a sequence in audio or video time), as the authors' code does;
            off: ``attn_dropout`` for all six. Only training differs.
        extra_bias: the projection of each extra vector (``H_E``, e.g. the poster) has a bias, as
            MuLT-GMU's ``proj_poster``; the authors' BPMuLT ``proj_poster`` has none.

        text_encoder: a Hugging Face model name or local folder (loaded from the local cache only)
            of a BERT-like encoder run inside the model; the batch then gives ``text_ids (B, L)``
            int64 and ``text_mask (B, L)`` instead of ``text`` features. None: ``text`` holds
            precomputed features (the default).
        text_encoder_mode: ``"finetune"`` (every encoder parameter is trained, as the authors'
            code does) or ``"frozen"`` (no gradients, always in eval mode: the same features as
            precomputing them).

        n_classes: number of labels (multilabel) or emotions (iemocap).
        head: ``"multilabel"``: ``n_classes`` logits; ``"iemocap"``: ``2 * n_classes`` logits laid
            out ``[emo0_neg, emo0_pos, emo1_neg, ...]`` (MuLT).

        mult_fusion: MuLT family only: ``"concat"`` (MuLT: last tokens concatenated ``[l, a, v]``
            and extras) or ``"gmu"`` (MuLT-GMU: a k-way GMU of width d over ``[h_L, h_V, h_A,
            extras]``), both followed by MuLT's residual head and output layer.
        memory_encoders: MuLT family only: the three self-attention "memory" encoders (width 2d,
            ``max(layers, 3)`` layers). Off: the six level-1 tokens are fused directly
            (MuLT-GMU-no-transf-encoder).

        token: which step of a sequence becomes its token. ``"first_for_bert_text"`` (paper
            §4.4): the last step, but the first ([CLS]) for sequences in text time when
            ``text_first_token_is_cls``; ``"last"``: always the last (MuLT); ``"first_plus_last"``:
            first + last step (authors' code). With the causal ``attn_mask`` the first step of
            a crossmodal output only sees keys ``0..|Lk - Lq|``, so the paper's [CLS] tokens of
            ``V->L``, ``(A->V)->L``, ``(V->A)->L`` and the parallel text token are blind to the
            other steps when lengths are equal (:mod:`bpmult.models.blind_token` measures it);
            ``"first_plus_last"`` or ``"last"`` is the remedy.
        level2_layer: layers of the six level-2 (biprojection) transformers: ``"cross"``
            (paper eq. 7-8: MuLT's crossmodal layer) or ``"translating"`` (self-attention over
            the query, then cross-attention; BPMuLT-translating, Fig. 10-11).
        translating_shared_weights: translating layers reuse one attention for both steps
            (authors' code) instead of a separate self-attention (paper figure).
        translating_query_norm: translating layers normalise the query before the
            cross-attention (paper figure); the authors' code normalises only keys/values.
        top_fusion: fusion of the two level-2 tokens of each target: ``"fgmu"`` (paper §4.4),
            ``"transformer"`` (BPMuLT-with-transformer: a MuLT memory encoder of width 2d over
            the two level-2 sequences concatenated along features) or ``"none"`` (the tokens go
            to the final GMU directly). With ``"transformer"`` the residuals and the middle FGMU
            may stay on (the paper replaces only the top FGMU, §7.4): ``level1_residual`` adds
            the level-1 term to each level-2 sequence before the concatenation (in token mode
            the level-1 token at every step), and ``middle_fgmu`` adds ``[M, M]`` (the d-wide
            middle FGMU output repeated over both halves) to the 2d-wide token, our choice
            where the paper's widths do not add up.
        level1_residual: the level-1 -> level-2 residual (eq. 25-26): add the level-1 token
            ``token(Z_{M1->M2})`` to the level-2 token ``token(Z_{M1->M2=>M3})``.
        level1_residual_mode: ``"token"`` (paper eq. 25-27: residuals and FGMUs on tokens) or
            ``"sequence"`` (authors' code: whole level-1 sequences mapped to the target's length
            by Linear time adapters, residuals and FGMUs over time, then the token). In sequence
            mode every input is fitted to ``len_*`` first, as the authors' code pads to fixed
            lengths.
        middle_fgmu: eq. 27: ``H'_M3 = FGMU_mid(level-1 tokens) + H_M3`` (needs
            ``top_fusion="fgmu"``).
        final_level1_tokens: the six level-1 tokens also go to the final GMU
            (BPMuLT-all-transformers, Fig. 8-9; needs ``top_fusion="none"``).
        parallel_branch: the simple parallel branch (§4.5-4.7) and its ``H_P``.
        parallel_len: the reduced length of the parallel branch (eq. 13; 32).
        parallel_layers: layers of each parallel self-attention encoder: 3 (paper), or None for
            ``max(layers, 3)`` (authors' code).
        parallel_fusion: fusion of the three parallel tokens: ``"extended_fgmu"`` (paper eq.
            20-22) or ``"gmu"`` (plain k-way GMU, authors' code).
        final_gmu_out: width of the final GMU (eq. 23): ``"classes"`` (paper: c outputs, then
            the residual block eq. 24 gives the logits) or ``"hidden"`` (authors' code: d, then
            MuLT's residual head and ``out_layer``).

        gmu_text_modality: GMU baseline only: the sequence whose mean over time is fused with
            the (single) extra vector. Default ``"video"``: on MM-IMDb our ``video`` slot holds
            the GloVe word vectors of the plot, as in the authors' code.
    """

    architecture: Literal["bpmult", "mult", "gmu"] = "bpmult"

    # inputs (set from the data)
    orig_d_text: int = 768
    orig_d_video: int = 4096
    orig_d_audio: int = 96
    extras: tuple[tuple[str, int], ...] = ()
    len_text: int = 512  # the authors' fixed text length (num_vectors_l)
    len_video: int = 200  # 200 VGG16 frames on Moviescope
    len_audio: int = 200
    text_first_token_is_cls: bool = False
    kernel_text: int = 1  # official MuLT hard-codes kernel 1
    kernel_video: int = 1
    kernel_audio: int = 1
    skip_equal_projection: bool = True
    audio_encoder: bool = False
    audio_encoder_kernel: int = 128
    audio_encoder_stride: int = 2
    audio_encoder_len: int = 200

    # transformers (MuLT names and defaults; d/heads/layers of the authors' Moviescope command)
    d_model: int = 768
    num_heads: int = 6
    layers: int = 5
    attn_dropout: float = 0.1
    attn_dropout_a: float = 0.0
    attn_dropout_v: float = 0.0
    relu_dropout: float = 0.1
    res_dropout: float = 0.1
    embed_dropout: float = 0.25
    out_dropout: float = 0.0
    attn_mask: bool = True
    level2_dropout_by_key: bool = False
    extra_bias: bool = True

    # optional text encoder inside the model (BERT fine-tuning)
    text_encoder: str | None = None
    text_encoder_mode: Literal["frozen", "finetune"] = "finetune"

    # output
    n_classes: int = 13
    head: Literal["multilabel", "iemocap"] = "multilabel"

    # MuLT family
    mult_fusion: Literal["concat", "gmu"] = "concat"
    memory_encoders: bool = True

    # BPMuLT (paper defaults; the authors' code choices are other values)
    token: Literal["first_for_bert_text", "last", "first_plus_last"] = "first_for_bert_text"
    level2_layer: Literal["cross", "translating"] = "cross"
    translating_shared_weights: bool = False
    translating_query_norm: bool = True
    top_fusion: Literal["fgmu", "transformer", "none"] = "fgmu"
    level1_residual: bool = True
    level1_residual_mode: Literal["token", "sequence"] = "token"
    middle_fgmu: bool = True
    final_level1_tokens: bool = False
    parallel_branch: bool = True
    parallel_len: int = 32
    parallel_layers: int | None = 3
    parallel_fusion: Literal["extended_fgmu", "gmu"] = "extended_fgmu"
    final_gmu_out: Literal["classes", "hidden"] = "classes"

    # GMU baseline
    gmu_text_modality: Literal["text", "video", "audio"] = "video"

    def __post_init__(self) -> None:
        # JSON round trips give lists; normalise so that configs compare and hash equal
        object.__setattr__(self, "extras", tuple((str(n), int(w)) for n, w in self.extras))
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"ModelConfig.{name} must be one of {choices}, got {getattr(self, name)!r}")
        self._check_sizes()
        self._check_extras()
        self._check_flags()

    # ------------------------------------------------------------------ validation
    def _check_sizes(self) -> None:
        positive = (
            "orig_d_text", "orig_d_video", "orig_d_audio", "len_text", "len_video", "len_audio",
            "d_model", "num_heads", "layers", "n_classes", "parallel_len",
            "audio_encoder_kernel", "audio_encoder_stride", "audio_encoder_len",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model {self.d_model} is not divisible by num_heads {self.num_heads} "
                f"(remainder {self.d_model % self.num_heads})"
            )
        if self.d_model < 4:
            raise ValueError(f"d_model must be at least 4 for the sinusoidal embedding, got {self.d_model}")
        for name in ("kernel_text", "kernel_video", "kernel_audio"):
            kernel = getattr(self, name)
            if kernel < 1 or kernel % 2 == 0:
                raise ValueError(
                    f"ModelConfig.{name} must be odd and positive (length-preserving padding), got {kernel}"
                )
        for name in ("attn_dropout", "attn_dropout_a", "attn_dropout_v", "relu_dropout", "res_dropout",
                     "embed_dropout", "out_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"ModelConfig.{name} must lie in [0, 1), got {p}")
        if self.parallel_layers is not None and self.parallel_layers < 1:
            raise ValueError(f"ModelConfig.parallel_layers must be positive or None, got {self.parallel_layers}")
        if self.audio_encoder:
            need = min_audio_frames(kernel=self.audio_encoder_kernel, stride=self.audio_encoder_stride)
            if self.len_audio < need:
                raise ValueError(
                    f"audio encoder (kernel {self.audio_encoder_kernel}, stride {self.audio_encoder_stride}) "
                    f"needs len_audio >= {need}, got {self.len_audio}"
                )

    def _check_extras(self) -> None:
        names = [name for name, _ in self.extras]
        if len(set(names)) != len(names):
            raise ValueError(f"ModelConfig.extras names must be unique, got {names}")
        for name, width in self.extras:
            if not name.isidentifier() or name in MODALITIES or name == "label":
                raise ValueError(f"extra name {name!r} must be an identifier other than {MODALITIES} and 'label'")
            if width < 1:
                raise ValueError(f"extra {name!r} must have a positive width, got {width}")
        if self.architecture == "gmu" and len(self.extras) != 1:
            raise ValueError(f"the GMU baseline fuses one sequence with exactly one extra vector, got extras {names}")

    def _check_flags(self) -> None:
        if self.text_encoder is not None:
            if not isinstance(self.text_encoder, str) or not self.text_encoder.strip():
                raise ValueError(f"ModelConfig.text_encoder must be a model name, a folder or None, got {self.text_encoder!r}")
            if self.architecture == "gmu":
                raise ValueError("the GMU baseline averages word vectors; it takes no text_encoder")
        if self.architecture != "bpmult":
            return
        if self.middle_fgmu and self.top_fusion == "none":
            raise ValueError(
                "middle_fgmu (eq. 27) adds to the top fusion's output; it needs top_fusion 'fgmu' or 'transformer', "
                "got 'none'"
            )
        if self.final_level1_tokens and self.top_fusion != "none":
            raise ValueError(
                f"final_level1_tokens sends raw CT tokens to the final GMU; it needs top_fusion='none', "
                f"got {self.top_fusion!r}"
            )

    # ------------------------------------------------------------------ derived values
    @property
    def n_outputs(self) -> int:
        """Number of logits: ``n_classes``, or ``2 * n_classes`` for the iemocap head."""
        return 2 * self.n_classes if self.head == "iemocap" else self.n_classes

    @property
    def orig_dims(self) -> dict[str, int]:
        """Input width per modality."""
        return {"text": self.orig_d_text, "video": self.orig_d_video, "audio": self.orig_d_audio}

    @property
    def kernels(self) -> dict[str, int]:
        """Input-projection kernel per modality."""
        return {"text": self.kernel_text, "video": self.kernel_video, "audio": self.kernel_audio}

    @property
    def model_lengths(self) -> dict[str, int]:
        """S_M per modality as the transformers see it (audio after the encoder, if any)."""
        audio = self.audio_encoder_len if self.audio_encoder else self.len_audio
        return {"text": self.len_text, "video": self.len_video, "audio": audio}

    @property
    def memory_layers(self) -> int:
        """Layers of MuLT's memory encoders: ``max(layers, 3)`` (official code)."""
        return max(self.layers, 3)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (extras as lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}")
        return cls(**values)

    def to_json(self) -> str:
        """The config as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)
