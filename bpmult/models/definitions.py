"""Two named model definitions: ``authors`` (the released code) and ``paper`` (the text as written).

A definition is a set of :class:`ModelConfig` field values applied on top of a variant and a
dataset preset; it never changes sizes (d, heads, layers), which the training profile sets.

``authors`` is the option set that reproduces the authors' released BPMuLT (commit ``0226109``)
and MuLT-GMU; ``bpmult check-authors`` on ``tests/data/bpmult_authors_*.npz`` and
``mg_mult_gmu_tvap.npz`` verifies it (``tests/test_definitions.py`` checks that the files' options
are exactly these). Per dataset it follows the class the authors use (peer-code §3.1):
``mmtrvapt`` (4 inputs, Moviescope and MM-IMDb) and ``mmtrvat`` (3 inputs, MOSEI and IEMOCAP).

=============================  ==============================  ======================================
point                          paper                           authors
=============================  ==============================  ======================================
token                          last; [CLS] for BERT text       first + last step
level-1 -> level-2 residual    tokens (eq. 25-27)              whole sequences, Linear time adapters
final GMU                      c outputs + residual (eq. 24)   d outputs + MuLT's head
parallel fusion / depth        extended FGMU / 3 layers        plain k-way GMU / max(layers, 3)
level-2 layer                  cross-attention (eq. 7-8)       4 inputs: self- then cross-attention,
                                                               shared weights, no query norm
level-2 attention dropout      attn_dropout (not stated)       by key modality (attn_dropout_a/v)
poster projection bias         yes (not stated; MuLT-GMU)      none
fixed lengths                  from the data                   4 inputs: text 512, video 200
                                                               3 inputs: 512 each (zero padding)
=============================  ==============================  ======================================

``bpmult_with_transformer`` replaces only the top FGMU under both definitions (the paper, §7.4;
the authors' HEAD has no such class): the level-1 residuals and the middle FGMU stay.
"""

from __future__ import annotations

from typing import Any

from bpmult.models.presets import DATASET_PRESETS, dataset_config
from bpmult.models.registry import VARIANTS, variant_flags

DEFINITIONS = ("authors", "paper")

FOUR_INPUT_DATASETS = ("moviescope", "mmimdb")
"""Datasets of the authors' ``MultiprojectionMMTransformerGMUClf`` (``mmtrvapt``)."""
THREE_INPUT_DATASETS = ("mosei", "iemocap")
"""Datasets of the authors' ``MultiprojectionMMTransformer3DGMUClf`` (``mmtrvat``)."""

AUTHORS_FIXED_LENGTHS: dict[str, dict[str, int]] = {
    # transfm_2dim pads text to num_vectors_l = 512 and video to num_vectors_v = 200; audio is 200 after
    # the encoder (audio_encoder_len), so len_audio stays the raw spectrogram length of the data
    "moviescope": dict(len_text=512, len_video=200),
    # the same class; video/audio lengths are hand-edited in their code for MM-IMDb (unknown), text is 512
    "mmimdb": dict(len_text=512),
    # num_vectors_{l,v,a} = 512: every projected sequence is zero-padded to 512 (longer ones cannot pass)
    "mosei": dict(len_text=512, len_video=512, len_audio=512),
    "iemocap": dict(len_text=512, len_video=512, len_audio=512),
}
"""The lengths the authors' classes pad to: facts of their code to report, and under ``authors``
the model's ``len_*`` (inputs are zero-padded or truncated to them)."""

_MULT_FAMILY = ("mult", "mult_gmu", "mult_gmu_no_encoder", "gmu")

_PAPER_BPMULT: dict[str, Any] = dict(
    token="first_for_bert_text", level1_residual_mode="token", final_gmu_out="classes",
    parallel_fusion="extended_fgmu", parallel_layers=3, level2_layer="cross",
    translating_shared_weights=False, translating_query_norm=True,
    level2_dropout_by_key=False, extra_bias=True,
)
_AUTHORS_BPMULT: dict[str, Any] = dict(
    token="first_plus_last", level1_residual_mode="sequence", final_gmu_out="hidden",
    parallel_fusion="gmu", parallel_layers=None, level2_layer="cross",
    translating_shared_weights=True, translating_query_norm=False,
    level2_dropout_by_key=True, extra_bias=False,
)


def _check(definition: str, dataset: str, variant: str) -> None:
    if definition not in DEFINITIONS:
        raise ValueError(f"unknown model definition {definition!r}; known: {', '.join(DEFINITIONS)}")
    if dataset not in DATASET_PRESETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASET_PRESETS)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}")


def definition_overrides(definition: str, dataset: str, variant: str) -> dict[str, Any]:
    """The ``ModelConfig`` fields that ``definition`` sets for ``variant`` on ``dataset``.

    Apply them after the variant's flags and the dataset's dims and before nothing else that
    touches these fields (``dataset_config(variant, dataset, **overrides)``); under ``authors``
    the ``len_*`` values are the authors' fixed lengths and win over the data's lengths.

    Raises:
        ValueError: unknown definition, dataset or variant.
    """
    _check(definition, dataset, variant)
    if variant in _MULT_FAMILY:
        # MuLT / MuLT-GMU / GMU: both definitions are the published code (official MuLT; MuLT-GMU
        # with its poster bias and dropout by key modality, which our defaults already are)
        return {}
    out = dict(_AUTHORS_BPMULT if definition == "authors" else _PAPER_BPMULT)
    flags = variant_flags(variant)
    if flags.get("level2_layer") == "translating":
        out.pop("level2_layer")  # the ablation's own point; the definition only says which form
    elif definition == "authors" and dataset in FOUR_INPUT_DATASETS:
        out["level2_layer"] = "translating"  # biprojection=True only in the 4-input class (§3.3)
    if variant == "bpmult_with_transformer":
        out.update(level1_residual=True, middle_fgmu=True)  # only the top FGMU is replaced (§7.4)
    if definition == "authors":
        out.update(AUTHORS_FIXED_LENGTHS[dataset])
    if not DATASET_PRESETS[dataset].get("extras"):
        out.pop("extra_bias")  # no extra vector, nothing to decide
    return out


def definition_train_overrides(definition: str, dataset: str, variant: str) -> dict[str, Any]:
    """Training settings of ``definition``: ``amp`` (bf16 autocast), ``early_stop_ties`` (an
    epoch that equals the best counts as an improvement, ``>=``) and ``lr_mode`` (``"max"``:
    ReduceLROnPlateau on the validation selection metric; ``"min_loss"``: on the validation loss).

    - ``amp=False`` under both: the authors train in fp32 and the paper names no reduced
      precision; bf16 is a speed option outside both definitions.
    - ``early_stop_ties``: the authors' loop (``>=``); the paper states none, so strict ``>``.
    - ``lr_mode``: the authors' ReduceLROnPlateau("max") on the tuning metric, except that the
      MuLT rows on IEMOCAP and MOSEI follow official MuLT (``"min"`` on validation loss).

    Raises:
        ValueError: unknown definition, dataset or variant.
    """
    _check(definition, dataset, variant)
    lr_mode = "min_loss" if variant == "mult" and dataset in THREE_INPUT_DATASETS else "max"
    return {"amp": False, "early_stop_ties": definition == "authors", "lr_mode": lr_mode}


def definition_text_encoder(definition: str, dataset: str) -> dict[str, Any]:
    """How each definition encodes text, for the trainer (the model fields and the encoder's lr).

    The paper names BERT as the text encoder of Moviescope, MM-IMDb and MOSEI (GloVe on IEMOCAP)
    but not whether it is fine-tuned; the authors' code fine-tunes all of BERT (lr 5e-5, the
    global lr). Returns ``{}`` where no encoder runs inside the model.
    """
    _check(definition, dataset, "bpmult")
    if not DATASET_PRESETS[dataset].get("text_first_token_is_cls"):
        return {}  # IEMOCAP: GloVe features (the authors' BERT "synopsis" field does not exist in the data)
    mode = "finetune" if definition == "authors" else "frozen"
    return {"text_encoder": "bert-base-uncased", "text_encoder_mode": mode, "encoder_lr": 5e-5}


def definition_config(definition: str, dataset: str, variant: str, **overrides: Any):
    """``dataset_config(variant, dataset)`` with ``definition``'s fields, then ``overrides``."""
    return dataset_config(variant, dataset, **{**definition_overrides(definition, dataset, variant), **overrides})
