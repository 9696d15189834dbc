"""Parity with the official MuLT: its state-dict names, the reference-file format and the check.

A reference file (``.npz``) holds an official ``MULTModel``'s parameters, inputs and outputs:

- ``config``: a JSON string with ``orig_d_l, orig_d_a, orig_d_v, d_model, num_heads, layers,
  conv_kernel, attn_mask, output_dim`` (and informative ``batch``, ``lens``, ...);
- ``input.text (B, L_l, orig_d_l)``, ``input.audio (B, L_a, orig_d_a)``, ``input.vision (B, L_v, orig_d_v)``;
- ``output.logits (B, output_dim)``, ``output.last_hs (B, 6 d)``;
- ``param.<official name>`` for every parameter (buffers omitted).

:func:`check_reference` builds our ``mult`` with the file's settings, loads the weights through the
name mapping (strictly: every parameter on both sides), runs it in eval mode in float32 and returns
the largest absolute differences. :func:`write_reference` writes a file of the same format from one
of our ``mult`` models, so the check can be exercised on any shapes.

Official names (modality letters ``l`` text, ``a`` audio, ``v`` vision/video)::

    proj_{l,a,v}.weight                    -> inputs.project.{text,audio,video}.weight
    trans_{t}_with_{s}.<encoder suffix>    -> crossmodal.{s}_to_{t}.<same suffix>
    trans_{m}_mem.<encoder suffix>         -> memory.{m}.<same suffix>
    proj1.*, proj2.*                       -> head.residual.proj1.*, head.residual.proj2.*
    out_layer.*                            -> head.out_layer.*

Encoder suffixes (``layers.{i}.self_attn.in_proj_weight``, ``fc1``, ``fc2``, ``layer_norms.{0,1}``,
``layer_norm``) are identical. The buffers ``*.version`` and ``*.embed_positions._float_tensor``
have no counterpart. ``proj_*`` of a modality whose width already equals d are unused by the
official forward and are dropped (our model has no such projection).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bpmult.models.config import ModelConfig
from bpmult.models.reference_file import config_json, read_npz
from bpmult.models.registry import build_model, variant_config

OFFICIAL_MODALITY = {"l": "text", "a": "audio", "v": "video"}
OURS_TO_LETTER = {m: letter for letter, m in OFFICIAL_MODALITY.items()}
REFERENCE_INPUTS = {"text": "input.text", "audio": "input.audio", "video": "input.vision"}
REFERENCE_OUTPUTS = ("output.logits", "output.last_hs")
REQUIRED_CONFIG = (
    "orig_d_l", "orig_d_a", "orig_d_v", "d_model", "num_heads", "layers", "conv_kernel", "attn_mask", "output_dim",
)

_TOP_LEVEL = {
    "proj1": "head.residual.proj1",
    "proj2": "head.residual.proj2",
    "out_layer": "head.out_layer",
}
_BUFFER = re.compile(r"\.(version|embed_positions\._float_tensor)$")


def official_to_ours(name: str) -> str | None:
    """Our parameter name for an official ``MULTModel`` state-dict name (None for buffers).

    Raises:
        ValueError: a name that is not part of the official model.
    """
    if _BUFFER.search(name):
        return None
    head, _, rest = name.partition(".")
    if m := re.fullmatch(r"proj_([lav])", head):
        return f"inputs.project.{OFFICIAL_MODALITY[m[1]]}.{rest}"
    if m := re.fullmatch(r"trans_([lav])_with_([lav])", head):
        return f"crossmodal.{OFFICIAL_MODALITY[m[2]]}_to_{OFFICIAL_MODALITY[m[1]]}.{rest}"
    if m := re.fullmatch(r"trans_([lav])_mem", head):
        return f"memory.{OFFICIAL_MODALITY[m[1]]}.{rest}"
    if head in _TOP_LEVEL:
        return f"{_TOP_LEVEL[head]}.{rest}"
    raise ValueError(f"{name!r} is not a parameter name of the official MULTModel")


def ours_to_official(name: str) -> str:
    """Inverse of :func:`official_to_ours` for the parameters of our ``mult``."""
    head, _, rest = name.partition(".")
    if head == "inputs" and (m := re.fullmatch(r"project\.(text|audio|video)\.(.+)", rest)):
        return f"proj_{OURS_TO_LETTER[m[1]]}.{m[2]}"
    if head == "crossmodal" and (m := re.fullmatch(r"(text|audio|video)_to_(text|audio|video)\.(.+)", rest)):
        return f"trans_{OURS_TO_LETTER[m[2]]}_with_{OURS_TO_LETTER[m[1]]}.{m[3]}"
    if head == "memory" and (m := re.fullmatch(r"(text|audio|video)\.(.+)", rest)):
        return f"trans_{OURS_TO_LETTER[m[1]]}_mem.{m[2]}"
    for official, ours in _TOP_LEVEL.items():
        if name.startswith(ours + "."):
            return official + name[len(ours):]
    raise ValueError(f"{name!r} has no official MULTModel counterpart")


def load_official_state_dict(model: torch.nn.Module, official: dict[str, Any]) -> None:
    """Load official MuLT parameters (arrays or tensors, official names) into our ``mult``.

    Every parameter of ``model`` must be provided and every provided parameter must be used, except
    official buffers and the unused ``proj_*`` of modalities whose projection is skipped.

    Raises:
        ValueError: missing or unexpected names, or shape mismatches, listed.
    """
    ours: dict[str, torch.Tensor] = {}
    skipped = {f"proj_{OURS_TO_LETTER[m]}." for m in ("text", "audio", "video") if m not in model.inputs.project}
    for name, value in official.items():
        target = official_to_ours(name)
        if target is None or any(name.startswith(p) for p in skipped):
            continue
        ours[target] = torch.as_tensor(np.asarray(value))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(set(ours) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"official weights do not match our mult: missing {[ours_to_official(n) for n in missing]}, "
            f"unexpected {unexpected}"
        )
    wrong = [
        f"{n}: file {tuple(ours[n].shape)}, model {tuple(t.shape)}"
        for n, t in expected.items() if ours[n].shape != t.shape
    ]
    if wrong:
        raise ValueError("official weights have wrong shapes: " + "; ".join(wrong))
    model.load_state_dict(ours, strict=True)


@dataclass(frozen=True)
class Reference:
    """The contents of a reference file."""

    path: Path
    config: dict[str, Any]
    inputs: dict[str, np.ndarray]  # our modality keys
    outputs: dict[str, np.ndarray]  # "logits", "last_hs"
    params: dict[str, np.ndarray]  # official names


def read_reference(path: str | Path) -> Reference:
    """Read and validate a reference file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable ``.npz``, a bad ``config``, or wrong shapes.
        KeyError: a required key is missing (the message names it and the file).
    """
    path = Path(path)
    arrays = read_npz(path)
    for key in ("config", *REFERENCE_INPUTS.values(), *REFERENCE_OUTPUTS):
        if key not in arrays:
            raise KeyError(f"{path}: missing key {key!r} (a reference file holds config, input.text/audio/vision, "
                           f"output.logits/last_hs and param.*)")
    config = config_json(arrays, path)
    missing = [k for k in REQUIRED_CONFIG if k not in config]
    if missing:
        raise KeyError(f"{path}: config lacks {missing}")
    params = {key[len("param."):]: value for key, value in arrays.items() if key.startswith("param.")}
    if not params:
        raise KeyError(f"{path}: no 'param.*' keys")
    inputs = {m: arrays[key].astype(np.float32) for m, key in REFERENCE_INPUTS.items()}
    widths = {"text": config["orig_d_l"], "audio": config["orig_d_a"], "video": config["orig_d_v"]}
    batch = inputs["text"].shape[0]
    for m, x in inputs.items():
        if x.ndim != 3 or x.shape[0] != batch or x.shape[2] != widths[m]:
            raise ValueError(f"{path}: {REFERENCE_INPUTS[m]} has shape {x.shape}, expected ({batch}, L, {widths[m]})")
    outputs = {key.split(".", 1)[1]: arrays[key].astype(np.float32) for key in REFERENCE_OUTPUTS}
    return Reference(path=path, config=config, inputs=inputs, outputs=outputs, params=params)


def config_from_reference(config: dict[str, Any], lengths: dict[str, int] | None = None) -> ModelConfig:
    """Our ``mult`` config with the settings of an official model (dropouts do not matter in eval)."""
    kernel = int(config["conv_kernel"])
    lengths = lengths or {}
    return variant_config(
        "mult",
        orig_d_text=int(config["orig_d_l"]), orig_d_audio=int(config["orig_d_a"]), orig_d_video=int(config["orig_d_v"]),
        d_model=int(config["d_model"]), num_heads=int(config["num_heads"]), layers=int(config["layers"]),
        kernel_text=kernel, kernel_audio=kernel, kernel_video=kernel,
        attn_mask=bool(config["attn_mask"]), n_classes=int(config["output_dim"]), head="multilabel",
        skip_equal_projection=True, audio_encoder=False, extras=(),
        **{f"len_{m}": n for m, n in lengths.items()},
    )


def check_reference(path: str | Path) -> dict[str, float]:
    """Run our ``mult`` with a reference file's weights and inputs; compare with its outputs.

    Returns:
        ``{"logits": max |ours - reference|, "last_hs": ...}`` (float32, eval mode).
    """
    ref = read_reference(path)
    lengths = {m: x.shape[1] for m, x in ref.inputs.items()}
    with torch.random.fork_rng():
        model = build_model(config_from_reference(ref.config, lengths))
    load_official_state_dict(model, ref.params)
    model.float().eval()
    batch = {m: torch.from_numpy(x) for m, x in ref.inputs.items()}
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
    ours = {"logits": logits, "last_hs": analysis["tokens"]["last_hs"]}
    diffs = {}
    for key, value in ours.items():
        expected = ref.outputs[key]
        if tuple(value.shape) != expected.shape:
            raise ValueError(
                f"{ref.path}: output.{key} has shape {expected.shape}, our model gives {tuple(value.shape)}"
            )
        diffs[key] = float(np.max(np.abs(value.numpy() - expected))) if expected.size else 0.0
    return diffs


def write_reference(
    path: str | Path,
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    extra_config: dict[str, Any] | None = None,
) -> None:
    """Write a reference file from one of our ``mult`` models (no extras, multilabel head).

    Args:
        path: the ``.npz`` to write.
        model: built from a ``mult`` config whose three kernels are equal.
        batch: ``text``, ``audio``, ``video`` inputs.
        extra_config: more informative ``config`` entries (e.g. ``{"note": ...}``).
    """
    cfg: ModelConfig = model.config
    if cfg.architecture != "mult" or cfg.mult_fusion != "concat" or cfg.extras or len(set(cfg.kernels.values())) != 1:
        raise ValueError("write_reference needs a plain mult (concat fusion, no extras, one kernel size)")
    model.eval()
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
    config = dict(
        orig_d_l=cfg.orig_d_text, orig_d_a=cfg.orig_d_audio, orig_d_v=cfg.orig_d_video, d_model=cfg.d_model,
        num_heads=cfg.num_heads, layers=cfg.layers, conv_kernel=cfg.kernel_text, attn_mask=cfg.attn_mask,
        output_dim=cfg.n_outputs, batch=int(batch["text"].shape[0]),
        lens={key.split(".")[1]: int(batch[m].shape[1]) for m, key in REFERENCE_INPUTS.items()},
        **(extra_config or {}),
    )
    arrays = {"config": np.array(json.dumps(config))}
    arrays.update({key: batch[m].numpy().astype(np.float32) for m, key in REFERENCE_INPUTS.items()})
    arrays["output.logits"] = logits.numpy()
    arrays["output.last_hs"] = analysis["tokens"]["last_hs"].numpy()
    for name, value in model.state_dict().items():
        arrays["param." + ours_to_official(name)] = value.numpy()
    with open(path, "wb") as handle:  # a file handle: np.savez would append .npz to a bare name
        np.savez(handle, **arrays)
