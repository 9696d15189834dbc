"""Building a model on the meta device as training builds it, and a batch of the real data's shapes.

Used by ``bpmult plan`` (:mod:`bpmult.plan`) to count one training step without weights or data.
A text encoder inside the model is built from its config (:data:`bpmult.plan_facts.BERT_CONFIGS` or
the packaged MiniLM's), never downloaded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import torch
from transformers import AutoConfig, AutoModel, BertConfig

from bpmult.data.text import minilm_path
from bpmult.models import build_model
from bpmult.models import text_encoder as text_encoder_module
from bpmult.plan_facts import BERT_CONFIGS
from bpmult.train.losses import TaskLoss


def encoder_config(name: str):
    """The Hugging Face config of a text encoder: the packaged MiniLM's, or a known one written here."""
    if name == "minilm":
        return AutoConfig.from_pretrained(str(minilm_path()), local_files_only=True)
    if name in BERT_CONFIGS:
        return BertConfig(**BERT_CONFIGS[name])
    raise ValueError(f"text_encoder {name!r}: bpmult plan knows the configs of minilm and {sorted(BERT_CONFIGS)}")


@contextlib.contextmanager
def text_encoders_from_config() -> Iterator[None]:
    """Build text encoders from their config instead of loading weights (nothing is downloaded).

    :class:`bpmult.models.text_encoder.TextEncoder` loads through ``load_pretrained``; inside this
    context that returns ``AutoModel.from_config`` of the same architecture, so the module tree, the
    parameter count and the computation are those of the pretrained encoder, without its values.
    """
    original = text_encoder_module.load_pretrained

    def from_config(name: str):
        known = "minilm" if Path(name) == minilm_path() else name
        encoder = AutoModel.from_config(encoder_config(known))
        forward = encoder.forward

        def without_mask(*args, attention_mask=None, **kwargs):
            # transformers tests ``mask.all()`` to skip an all-ones mask: a data-dependent branch
            # that meta tensors cannot take. The plan's masks are all ones, for which transformers
            # skips the mask anyway, so leaving it out computes exactly the same.
            return forward(*args, **kwargs)

        encoder.forward = without_mask
        return encoder

    text_encoder_module.load_pretrained = from_config
    try:
        yield
    finally:
        text_encoder_module.load_pretrained = original


def build_on(cfg, device: str | torch.device, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The model of ``cfg`` on ``device`` (``meta``: no memory), in training mode."""
    with torch.device(device), text_encoders_from_config():
        model = build_model(cfg)
    return model.to(dtype).train()


def example_batch(manifest: dict[str, Any], batch_size: int, device: str | torch.device,
                  dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A batch of ``manifest``'s shapes: random floats, word-piece ids 1 (mask 1), labels 0."""
    batch = {}
    gen = None if torch.device(device).type == "meta" else torch.Generator(device).manual_seed(0)
    for name, dims in manifest["modalities"].items():
        size = (batch_size, *dims)
        if name in ("text_ids", "text_mask"):
            batch[name] = torch.ones(size, dtype=torch.long, device=device)
        else:
            batch[name] = torch.randn(size, dtype=dtype, device=device, generator=gen)
    n = len(manifest["label_names"])
    label_dtype = torch.long if manifest["task"] == "iemocap" else torch.float32
    batch["label"] = torch.zeros((batch_size, n), dtype=label_dtype, device=device)
    return batch


def training_step(model: torch.nn.Module, batch: dict[str, torch.Tensor], task: str):
    """The trainer's forward + loss (``bpmult.train.losses.TaskLoss``) as a callable for the counters."""
    loss_fn = TaskLoss(task)
    return lambda: loss_fn(model(batch), batch["label"])
