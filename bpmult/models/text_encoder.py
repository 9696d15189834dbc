"""A BERT-like text encoder inside the model, frozen or fine-tuned end to end.

The authors' code runs Hugging Face ``BertModel`` on ``[CLS] + tokens`` with an attention mask and
puts every BERT parameter in the optimiser (peer-code §3.8). With ``ModelConfig.text_encoder`` set,
:class:`ModalityInputs <bpmult.models.parts.ModalityInputs>` runs this module on
``batch["text_ids"] (B, L)`` and ``batch["text_mask"] (B, L)`` and uses its last hidden states
``(B, L, H)`` as the ``text`` features, so the rest of the model is unchanged.

The encoder is loaded with ``local_files_only=True`` from a folder or the Hugging Face cache
(``bpmult fetch bert-base-uncased`` fills it); nothing is downloaded here.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

ENCODER_PREFIX = "inputs.text_encoder."
"""Name prefix of the encoder's parameters in a model's ``named_parameters()``."""


def load_pretrained(name: str) -> nn.Module:
    """``transformers.AutoModel.from_pretrained(name)`` from local files only.

    Raises:
        FileNotFoundError: ``name`` is neither a model folder nor in the local Hugging Face cache.
    """
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(name, local_files_only=True)
    except OSError as err:
        raise FileNotFoundError(
            f"text_encoder {name!r}: not a model folder nor in the local Hugging Face cache "
            f"(run `bpmult fetch bert-base-uncased` first): {str(err).splitlines()[0]}"
        ) from err


class TextEncoder(nn.Module):
    """Token ids and attention mask to hidden states, frozen or trainable.

    Args:
        name: a Hugging Face model name or a local folder.
        mode: ``"finetune"`` or ``"frozen"`` (no gradients and always in eval mode, so dropout
            never acts: its output equals features precomputed by the same encoder).
        width: the expected hidden size (``ModelConfig.orig_d_text``).
    """

    def __init__(self, *, name: str, mode: str, width: int) -> None:
        super().__init__()
        self.encoder = load_pretrained(name)
        hidden = int(self.encoder.config.hidden_size)
        if hidden != width:
            raise ValueError(f"text_encoder {name!r} has hidden size {hidden}, but orig_d_text is {width}")
        if getattr(self.encoder, "pooler", None) is not None:
            # the model reads the hidden states only; an unused pooler would sit in the optimiser
            # without gradients (BertModel skips a pooler set to None)
            self.encoder.pooler = None
        self.frozen = mode == "frozen"
        if self.frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> TextEncoder:
        """As ``nn.Module.train``, but a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Args: ids ``(B, L)`` int64, mask ``(B, L)`` (1 = token). Returns ``(B, L, H)``."""
        if ids.ndim != 2 or mask.shape != ids.shape:
            raise ValueError(f"text_ids {tuple(ids.shape)} and text_mask {tuple(mask.shape)} must both be (B, L)")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.encoder(input_ids=ids.long(), attention_mask=mask.long())
        hidden = out.last_hidden_state
        # padded steps become exact zeros, as in prepared features (MuLT's positional embedding
        # treats a step whose channel 0 is 0 as padding)
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)


def split_param_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(encoder parameters, other parameters)`` of a model, trainable ones only.

    The trainer gives the first group its own learning rate (the authors: 5e-5). A model without
    a text encoder, or with a frozen one, has an empty first group.
    """
    encoder, other = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (encoder if name.startswith(ENCODER_PREFIX) else other).append(param)
    return encoder, other


def text_encoder_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The trainable parameters of a model's text encoder (none without one)."""
    yield from split_param_groups(model)[0]
