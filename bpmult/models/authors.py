"""Parity with the authors' released BPMuLT and with MuLT-GMU: the name map, the file format, the check.

A reference file (``format = "bpmult-authors-reference/1"``, ``.npz``) holds, from the authors' own
code run in eval mode:

- ``config``: a JSON string; :func:`check_authors` reads ``config.bpmult.variant``, ``.overrides``
  (every :class:`ModelConfig` field needed), ``.unmatched_params`` (our parameters the authors'
  class lacks, filled with zeros), ``.unused_authors_params`` (their parameters their forward never
  uses, glob patterns) and ``config.outputs.gates.order`` (the authors' final-GMU input order);
- ``input.text``, ``input.video``, ``input.audio`` ``(B, L, width)`` time-major, ``input.<extra>``
  ``(B, width)`` for each extra of the overrides;
- ``output.logits (B, C)`` and ``output.gates (B, k d)`` (the final GMU's ``cat(z_1..z_k)``);
- ``param.<authors' state_dict name>``.

The name map is total: every authors' parameter is used or declared unused, every parameter of
ours is filled or declared unmatched, and anything else is an error naming the tensor. Authors'
names (``l/v/a`` = text/video/audio) and ours::

    trans_{t}_with_{x}2{y}.*      -> biprojection.{x}_to_{y}_to_{t}.*     (level 2, eq. 2-8)
    trans_{t}_with_{s}.*          -> crossmodal.{s}_to_{t}.*             (level 1)
    trans_{m}_early.*             -> parallel.encoders.{m}.*             (eq. 14-19)
    trans_{m}_mem.*               -> memory.{m}.*                        (MuLT-GMU)
    proj_{m}.weight               -> inputs.project.{m}.weight
    proj_{m}_e.weight             -> parallel.time_reduction.{m}.weight  (eq. 13)
    audio_enc.conv_layers.{i}.*   -> inputs.audio_encoder.conv_layers.{i}.*
    proj_poster.*                 -> extras.poster.*
    transfm_{s}2{t}.*             -> time_adapters.{s}_time_to_{t}.*
    proj1.*, proj2.*, out_layer.* -> head.residual.proj1.*, head.residual.proj2.*, head.out_layer.*
    gmu_{m}_m.{hidden1,hidden2,x_gate}.weight -> middle_fgmu.{m}.{hidden.0,hidden.1,gate}.weight
    gmu_{m}.{hidden1,hidden2,x_gate}.weight   -> top_fgmu.{m}.{...}.weight
    gmu_early.hidden{i}.weight    -> parallel.fusion.hidden.{i-1}.weight; x{i}_gate rows stacked
                                     into parallel.fusion.gate
    gmu.hiddens.{i} | gmu.hidden{i+1}, gmu.x_gates.{i} | gmu.x{i+1}_gate
                                  -> final_gmu.hidden.{j}, row block j of final_gmu.gate, with
                                     j and the gate's input columns permuted from gates.order to
                                     our ``model.final_inputs``
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bpmult.models.config import MODALITIES, ModelConfig
from bpmult.models.reference_file import config_json, read_npz
from bpmult.models.registry import build_model, variant_config

FORMAT = "bpmult-authors-reference/1"
LETTER = {"l": "text", "v": "video", "a": "audio"}
OUTPUTS = ("logits", "gates")

_MODULES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"trans_([lva])_with_([lva])2([lva])"),
     lambda m: f"biprojection.{LETTER[m[2]]}_to_{LETTER[m[3]]}_to_{LETTER[m[1]]}"),
    (re.compile(r"trans_([lva])_with_([lva])"), lambda m: f"crossmodal.{LETTER[m[2]]}_to_{LETTER[m[1]]}"),
    (re.compile(r"trans_([lva])_early"), lambda m: f"parallel.encoders.{LETTER[m[1]]}"),
    (re.compile(r"trans_([lva])_mem"), lambda m: f"memory.{LETTER[m[1]]}"),
    (re.compile(r"proj_([lva])"), lambda m: f"inputs.project.{LETTER[m[1]]}"),
    (re.compile(r"proj_([lva])_e"), lambda m: f"parallel.time_reduction.{LETTER[m[1]]}"),
    (re.compile(r"audio_enc"), lambda m: "inputs.audio_encoder"),
    (re.compile(r"proj_poster"), lambda m: "extras.poster"),
    (re.compile(r"transfm_([lva])2([lva])"), lambda m: f"time_adapters.{LETTER[m[1]]}_time_to_{LETTER[m[2]]}"),
    (re.compile(r"proj([12])"), lambda m: f"head.residual.proj{m[1]}"),
    (re.compile(r"out_layer"), lambda m: "head.out_layer"),
)
_FGMU = re.compile(r"gmu_([lva])(_m)?\.(hidden1|hidden2|x_gate)\.weight")
_FGMU_PART = {"hidden1": "hidden.0", "hidden2": "hidden.1", "x_gate": "gate"}
_EARLY = re.compile(r"gmu_early\.(hidden|x)([123])(_gate)?\.weight")
_FINAL = re.compile(r"gmu\.(?:(hiddens|x_gates)\.(\d+)|(hidden|x)(\d+)(_gate)?)\.weight")


def authors_to_ours(name: str) -> tuple[str, str, int | None]:
    """Where an authors' parameter goes: ``(kind, our name, input index)``.

    ``kind`` is ``"copy"`` (our name gets the tensor), ``"early_gate"``/``"final_gate"`` (a row
    block of a stacked gate) or ``"final_hidden"``; the index is the authors' 0-based input
    index of a GMU piece, else None.

    Raises:
        ValueError: a name outside the map.
    """
    if m := _FGMU.fullmatch(name):
        where = "middle_fgmu" if m[2] else "top_fgmu"
        return "copy", f"{where}.{LETTER[m[1]]}.{_FGMU_PART[m[3]]}.weight", None
    if m := _EARLY.fullmatch(name):
        i = int(m[2]) - 1
        if m[1] == "hidden" and not m[3]:
            return "copy", f"parallel.fusion.hidden.{i}.weight", None
        if m[1] == "x" and m[3]:
            return "early_gate", "parallel.fusion.gate.weight", i
    if m := _FINAL.fullmatch(name):
        if m[1]:  # TextShiftingNLayer: hiddens.{i}, x_gates.{i}
            kind, i = ("final_hidden" if m[1] == "hiddens" else "final_gate"), int(m[2])
        elif (m[3] == "hidden") != bool(m[5]):  # TextShifting4Layer: hidden{i}, x{i}_gate (1-based)
            kind, i = ("final_hidden" if m[3] == "hidden" else "final_gate"), int(m[4]) - 1
        else:
            raise ValueError(f"{name!r} is not a parameter name of the authors' classes")
        return kind, "final_gmu.gate.weight" if kind == "final_gate" else "final_gmu.hidden", i
    head, _, rest = name.partition(".")
    for pattern, target in _MODULES:
        if rest and (m := pattern.fullmatch(head)):
            return "copy", f"{target(m)}.{rest}", None
    raise ValueError(f"{name!r} is not a parameter name of the authors' classes")


@dataclass(frozen=True)
class AuthorsReference:
    """The contents of an authors' reference file."""

    path: Path
    config: dict[str, Any]
    variant: str
    overrides: dict[str, Any]
    gate_order: tuple[str, ...]
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    params: dict[str, np.ndarray]


def _section(config: dict[str, Any], path: Path, *keys: str) -> Any:
    value: Any = config
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"{path}: config lacks {'.'.join(keys[: i + 1])!r}")
        value = value[key]
    return value


def read_authors_reference(path: str | Path) -> AuthorsReference:
    """Read and validate an authors' reference file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable ``.npz``, a missing key or config entry, or wrong shapes.
    """
    path = Path(path)
    arrays = read_npz(path)
    if "config" not in arrays:
        raise ValueError(f"{path}: missing key 'config' (expected config, input.*, output.logits/gates, param.*)")
    config = config_json(arrays, path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise ValueError(f"{path}: config.format is {found!r}, expected {FORMAT!r}")
    variant = _section(config, path, "bpmult", "variant")
    overrides = dict(_section(config, path, "bpmult", "overrides"))
    gate_order = tuple(_section(config, path, "outputs", "gates", "order"))
    extras = [name for name, _ in overrides.get("extras", [])]
    keys = [f"input.{m}" for m in (*MODALITIES, *extras)] + [f"output.{o}" for o in OUTPUTS]
    for key in keys:
        if key not in arrays:
            raise ValueError(f"{path}: missing key {key!r}")
    params = {key[len("param."):]: value for key, value in arrays.items() if key.startswith("param.")}
    if not params:
        raise ValueError(f"{path}: no 'param.*' keys")
    inputs = {name: arrays[f"input.{name}"] for name in (*MODALITIES, *extras)}
    batch = inputs["text"].shape[0]
    for name, x in inputs.items():
        ndim = 2 if name in extras else 3
        if x.ndim != ndim or x.shape[0] != batch:
            raise ValueError(f"{path}: input.{name} has shape {x.shape}, expected {ndim} axes and batch {batch}")
    outputs = {o: arrays[f"output.{o}"] for o in OUTPUTS}
    return AuthorsReference(path=path, config=config, variant=str(variant), overrides=overrides,
                            gate_order=gate_order, inputs=inputs, outputs=outputs, params=params)


def authors_model_config(ref: AuthorsReference, **extra: Any) -> ModelConfig:
    """Our config for the file: its variant and overrides, then ``extra`` (e.g. a wrong option)."""
    try:
        return variant_config(ref.variant, **{**ref.overrides, **extra})
    except ValueError as err:
        raise ValueError(f"{ref.path}: config.bpmult: {err}") from err


def _final_permutation(ref: AuthorsReference, model: torch.nn.Module) -> list[int]:
    """``perm[i]`` = our final-GMU input index of the authors' input ``i``."""
    ours = list(model.final_inputs)
    if sorted(ours) != sorted(ref.gate_order):
        raise ValueError(f"{ref.path}: outputs.gates.order {list(ref.gate_order)} does not name our final-GMU "
                         f"inputs {ours}")
    return [ours.index(name) for name in ref.gate_order]


def map_authors_params(ref: AuthorsReference, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our state dict filled from the authors' parameters (the total map; see the module doc).

    Raises:
        ValueError: an authors' parameter without a counterpart that is not declared unused, a
            parameter of ours left unfilled and not declared unmatched, or a shape mismatch.
    """
    bp = ref.config.get("bpmult", {})
    unused = list(bp.get("unused_authors_params", []))
    unmatched = dict(bp.get("unmatched_params", {}))
    expected = model.state_dict()
    has_final = hasattr(model, "final_gmu")
    perm = _final_permutation(ref, model) if has_final else []
    ours: dict[str, torch.Tensor] = {}
    pieces: dict[str, dict[int, np.ndarray]] = {"early_gate": {}, "final_gate": {}}
    skipped_projections = {
        f"inputs.project.{m}.weight" for m in MODALITIES
        if ref.overrides.get("skip_equal_projection", True) and hasattr(model, "inputs")
        and m not in model.inputs.project
    }
    problems: list[str] = []
    for name, value in ref.params.items():
        kind, target, index = authors_to_ours(name)
        if kind == "final_hidden":
            target = f"final_gmu.hidden.{perm[index]}.weight" if has_final and index < len(perm) else target
        if kind in pieces:
            pieces[kind][index] = value
        elif target in expected:
            ours[target] = torch.as_tensor(value)
        elif target in skipped_projections:
            continue  # MuLT and the authors skip a projection of a width-d modality in forward
        elif not any(fnmatch.fnmatchcase(name, p) for p in unused):
            problems.append(f"authors' {name!r} (ours {target!r}) has no counterpart and is not declared unused")
    if pieces["early_gate"]:
        ours["parallel.fusion.gate.weight"] = torch.as_tensor(
            np.concatenate([pieces["early_gate"][i] for i in sorted(pieces["early_gate"])], axis=0))
    if pieces["final_gate"]:
        ours["final_gmu.gate.weight"] = _final_gate(pieces["final_gate"], perm, model.final_gmu.in_dims, ref.path)
    for name in sorted(set(expected) - set(ours)):
        if name in unmatched:
            ours[name] = torch.zeros_like(expected[name])
        else:
            problems.append(f"our {name!r} is not filled by any authors' parameter")
    for name in sorted(set(ours) - set(expected)):
        problems.append(f"{name!r} is not a parameter of our {ref.variant}")
    for name, t in expected.items():
        if name in ours and ours[name].shape != t.shape:
            problems.append(f"{name!r}: file {tuple(ours[name].shape)}, our model {tuple(t.shape)}")
    if problems:
        raise ValueError(f"{ref.path}: the name map is not total: " + "; ".join(problems))
    return ours


def _final_gate(blocks: dict[int, np.ndarray], perm: list[int], in_dims: tuple[int, ...], path: Path) -> torch.Tensor:
    """Our stacked ``final_gmu.gate`` from the authors' per-input gates, rows and columns permuted."""
    if sorted(blocks) != list(range(len(perm))):
        raise ValueError(f"{path}: final GMU gates {sorted(blocks)}, expected {list(range(len(perm)))}")
    authors_dims = [in_dims[perm[i]] for i in range(len(perm))]
    starts = np.cumsum([0, *authors_dims])
    inverse = [perm.index(j) for j in range(len(perm))]  # our input j is the authors' input inverse[j]
    rows = []
    for j in range(len(perm)):
        block = blocks[inverse[j]]
        rows.append(np.concatenate([block[:, starts[a]:starts[a + 1]] for a in inverse], axis=1))
    return torch.as_tensor(np.concatenate(rows, axis=0))


def our_outputs(model: torch.nn.Module, ref: AuthorsReference, dtype: torch.dtype) -> dict[str, np.ndarray]:
    """Logits and final gates of ``model`` on the file's inputs, gates in the authors' order."""
    batch = {name: torch.as_tensor(x).to(dtype) for name, x in ref.inputs.items()}
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
    gates = analysis["gates"]["final"]  # (B, k, d), our order
    perm = _final_permutation(ref, model)
    ordered = torch.cat([gates[:, perm[i]] for i in range(len(perm))], dim=-1)
    return {"logits": logits.double().numpy(), "gates": ordered.double().numpy()}


def check_authors(path: str | Path, dtype: torch.dtype = torch.float64, **extra: Any) -> dict[str, float]:
    """Run our model with an authors' reference file's weights and inputs; compare the outputs.

    Args:
        path: the ``.npz``.
        dtype: our model's precision (float64: what remains is the file's float32 rounding).
        extra: ``ModelConfig`` fields that override the file's (negative controls).

    Returns:
        ``{"logits": max |ours - file|, "gates": ...}``.
    """
    ref = read_authors_reference(path)
    cfg = authors_model_config(ref, **extra)
    with torch.random.fork_rng():
        model = build_model(cfg)
    model.load_state_dict(map_authors_params(ref, model), strict=True)
    model.to(dtype).eval()
    ours = our_outputs(model, ref, dtype)
    diffs = {}
    for key in OUTPUTS:
        expected = ref.outputs[key]
        if ours[key].shape != expected.shape:
            raise ValueError(f"{ref.path}: output.{key} has shape {expected.shape}, our model gives {ours[key].shape}")
        diffs[key] = float(np.max(np.abs(ours[key] - expected.astype(np.float64)))) if expected.size else 0.0
    return diffs
