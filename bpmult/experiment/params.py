"""Profiles: the per-dataset model and training settings of ``params.yaml``, and ``--set``.

One params file holds every profile; its top-level ``profile`` key is the one switch
(``dvc exp run -S profile=paper``)::

    profile: embedded
    embedded:
      seeds: [1, 2]
      data: {...}                       # read by the data stages, not here
      moviescope:
        model: {d_model: 16, ...}       # ModelConfig fields (bpmult.models)
        train: {batch_size: 16, ...}    # TrainConfig fields (bpmult.train.config)
        variants:
          mult: {model: {...}, train: {...}}   # per-variant changes on top
      mmimdb: ...

Resolution order, later wins: the profile's ``definition`` (``authors``: the released code;
``paper``: the text as written; absent: the package defaults) → dataset ``model``/``train`` →
``variants.<variant>`` → ``--set`` overrides (``train.lr=1e-3``, ``model.d_model=32``, ``seeds=[1,2]``; values are YAML
scalars or flow lists). Fields that come from the prepared data (input widths, lengths, classes,
head) cannot be set here. The same ``section.key=value`` syntax serves ``bpmult train --set``, the
notebooks' ``overrides`` parameter and, prefixed with the profile and dataset, ``dvc exp run -S``.

Every resolved value remembers where it came from (``Resolved.sources``), so a bad value is reported
by its params path: ``embedded.moviescope.train.lr: must be a positive finite number, got 'fast'``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from bpmult.models import VARIANTS, ModelConfig
from bpmult.models.definitions import (DEFINITIONS, definition_overrides, definition_text_encoder,
                                       definition_train_overrides)
from bpmult.paramsfile import load_params  # noqa: F401 (part of this module's API)
from bpmult.train.config import TrainConfig
from bpmult.train.retention import check_policy


# ModelConfig fields that training derives from the prepared data's manifest
DATA_DERIVED_MODEL_FIELDS = frozenset({
    "variant", "orig_d_text", "orig_d_video", "orig_d_audio", "extras", "n_classes", "head",
    "audio_encoder", "text_first_token_is_cls", "len_text", "len_video", "len_audio", "text_encoder",
})
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
PROFILE_SECTION_KEYS = ("seeds", "data", "definition", "keep_weights")  # the non-dataset keys of a profile
DATASET_SECTION_KEYS = ("model", "train", "variants")
VARIANT_SECTION_KEYS = ("model", "train")


@dataclass(frozen=True)
class Resolved:
    """The settings of one (dataset, variant) under one profile.

    Attributes:
        model_overrides: ModelConfig fields to pass to ``variant_config`` beside the data-derived ones.
        train: the training settings.
        seeds: the seeds to train.
        profile: the profile they came from.
    """

    model_overrides: dict[str, Any]
    train: TrainConfig
    seeds: list[int]
    profile: str = ""
    dataset: str = ""
    variant: str = ""
    overrides: tuple[str, ...] = field(default_factory=tuple)
    sources: dict[str, str] = field(default_factory=dict)  # "train.lr" -> where its value was set
    definition: str | None = None  # the named model definition (authors | paper), or None
    definition_model: dict[str, Any] = field(default_factory=dict)  # the fields it sets, below the profile's
    keep_weights: str = "all"  # which seeds keep best.pt once all finished (bpmult.train.retention)


def profile_names(params: dict[str, Any]) -> list[str]:
    """Sections of ``params`` that are profiles (mappings with ``seeds``)."""
    return [k for k, v in params.items() if isinstance(v, dict) and "seeds" in v]


def dataset_names(params: dict[str, Any], profile: str) -> list[str]:
    """The datasets a profile configures."""
    return [k for k in params[profile] if k not in PROFILE_SECTION_KEYS]


def parse_seeds(text: str | int | Iterable[int]) -> list[int]:
    """Seeds from ``"1-5"``, ``"1,3"``, ``"1-3,7"``, an int or a list.

    Raises:
        ValueError: on an empty, reversed or non-integer range, or a repeated seed.
    """
    if isinstance(text, bool):
        raise ValueError(f"seeds: expected integers, got {text!r}")
    if isinstance(text, int):
        seeds = [text]
    elif isinstance(text, str):
        seeds = []
        for part in text.replace(" ", "").split(","):
            match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
                raise ValueError(f"seeds: cannot read {part!r} in {text!r}; use e.g. 1-5, 1,3 or 1-3,7")
            lo = int(match[1])
            seeds += list(range(lo, int(match[2] or lo) + 1))
    else:
        seeds = list(text)
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"seeds: expected integers, got {seeds!r}")
    if not seeds:
        raise ValueError(f"seeds: none given in {text!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: repeated seed in {seeds}")
    return seeds


def model_field_names() -> list[str]:
    """ModelConfig fields that a profile may set."""
    return [f.name for f in dataclasses.fields(ModelConfig) if f.name not in DATA_DERIVED_MODEL_FIELDS]


def known_variants() -> list[str]:
    """Variant names of ``bpmult.models``."""
    return list(VARIANTS)


def _check_keys(where: str, section: Any, valid: Iterable[str]) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"params {where}: expected a mapping, got {section!r}")
    valid = list(valid)
    unknown = sorted(set(section) - set(valid))
    if unknown:
        raise ValueError(f"params {where}: unknown key(s) {unknown}; valid: {valid}")
    return dict(section)


def _check_model_keys(where: str, values: dict[str, Any]) -> None:
    derived = sorted(set(values) & DATA_DERIVED_MODEL_FIELDS)
    if derived:
        raise ValueError(f"{where}: {derived} come from the prepared data's manifest and cannot be set")
    valid = model_field_names()
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown model setting(s) {unknown}; valid: {valid}")


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value`` (or ``seeds=value``) into (section, key, parsed value).

    The value is read as YAML: ``1e-3`` → float, ``true`` → bool, ``null`` → None, ``[1, 2]`` → list.

    Raises:
        ValueError: naming the override and the accepted forms.
    """
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected key=value, e.g. train.lr=1e-3 or model.d_model=32")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"--set {text!r}: cannot read the value as YAML ({err})") from None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if key == "seeds":
        return "seeds", "seeds", value
    section, _, name = key.partition(".")
    if section not in VARIANT_SECTION_KEYS or not name or "." in name:
        raise ValueError(f"--set {text!r}: unknown key {key!r}; valid: train.<field>, model.<field>, seeds")
    return section, name, value


def resolve(params: dict[str, Any], dataset: str, variant: str, profile: str | None = None,
            overrides: Iterable[str] = ()) -> Resolved:
    """The model overrides, training config and seeds of one (dataset, variant).

    Args:
        params: as returned by :func:`load_params`.
        dataset: a dataset section of the profile (``moviescope``, ``iemocap_aligned``, ...).
        variant: a model variant (``bpmult``, ``mult``, ...).
        profile: the profile to use; None means ``params["profile"]``.
        overrides: ``key=value`` strings (``--set``), applied last.

    Raises:
        ValueError: naming the unknown profile, dataset, variant or key and the valid ones.
    """
    profile = profile or params.get("profile")
    profiles = profile_names(params)
    if profile not in profiles:
        raise ValueError(f"params: unknown profile {profile!r}; valid: {profiles}")
    section = params[profile]
    datasets = dataset_names(params, profile)
    if dataset not in datasets:
        raise ValueError(f"params {profile}: unknown dataset {dataset!r}; valid: {datasets}")
    variants = known_variants()
    if variant not in variants:
        raise ValueError(f"unknown model variant {variant!r}; valid: {variants}")

    where = f"{profile}.{dataset}"
    ds = _check_keys(where, section[dataset], DATASET_SECTION_KEYS)
    model = _check_keys(f"{where}.model", ds.get("model"), _any_key(ds.get("model")))
    train = _check_keys(f"{where}.train", ds.get("train"), TrainConfig.field_names())
    per_variant = _check_keys(f"{where}.variants", ds.get("variants"), _any_key(ds.get("variants")))
    _check_keys(f"{where}.variants", per_variant, variants)
    chosen = _check_keys(f"{where}.variants.{variant}", per_variant.get(variant), VARIANT_SECTION_KEYS)
    sources = {f"model.{k}": f"{where}.model.{k}" for k in model}
    sources.update({f"train.{k}": f"{where}.train.{k}" for k in train})
    variant_model = _check_keys(f"{where}.variants.{variant}.model", chosen.get("model"), _any_key(chosen.get("model")))
    variant_train = _check_keys(f"{where}.variants.{variant}.train", chosen.get("train"), TrainConfig.field_names())
    model.update(variant_model)
    train.update(variant_train)
    sources.update({f"model.{k}": f"{where}.variants.{variant}.model.{k}" for k in variant_model})
    sources.update({f"train.{k}": f"{where}.variants.{variant}.train.{k}" for k in variant_train})
    _check_model_keys(f"params {where}", model)

    definition = section.get("definition")
    definition_model: dict[str, Any] = {}
    if definition is not None:
        if definition not in DEFINITIONS:
            raise ValueError(f"params {profile}.definition: {definition!r}; expected one of {list(DEFINITIONS)}")
        definition_model = definition_overrides(definition, preset_name(dataset), variant)
        text = definition_text_encoder(definition, preset_name(dataset))  # used when the data are word pieces
        if "text_encoder_mode" in text and variant != "gmu":
            definition_model["text_encoder_mode"] = text["text_encoder_mode"]
        definition_train = definition_train_overrides(definition, preset_name(dataset), variant)
        if "encoder_lr" in text:
            definition_train["encoder_lr"] = text["encoder_lr"]
        for key, value in definition_train.items():
            if key not in train:  # the profile's own values win over the definition's
                train[key] = value
                sources[f"train.{key}"] = f"{profile}.definition ({definition})"
    seeds = parse_seeds(section["seeds"])
    keep_weights = check_policy(section.get("keep_weights", "all"), f"params {profile}.keep_weights")
    overrides = tuple(overrides)
    for text in overrides:
        kind, name, value = parse_override(text)
        if kind == "seeds":
            seeds = parse_seeds(value)
        elif kind == "train":
            if name not in TrainConfig.field_names():
                raise ValueError(f"--set {text!r}: unknown key 'train.{name}'; valid: "
                                 f"{['train.' + n for n in TrainConfig.field_names()]}")
            train[name] = value
        else:
            _check_model_keys(f"--set {text!r}", {name: value})
            model[name] = value
        sources[f"{kind}.{name}"] = f"--set {text}"
    try:
        train_config = TrainConfig.from_dict(train)
    except ValueError as err:
        raise ValueError(located(str(err), sources, "train", f"{where}.train")) from None
    return Resolved(model_overrides=model, train=train_config, seeds=seeds, profile=profile, dataset=dataset,
                    variant=variant, overrides=overrides, sources=sources, definition=definition,
                    definition_model=definition_model, keep_weights=keep_weights)


def preset_name(dataset: str) -> str:
    """The model preset (and definition) a dataset uses: both IEMOCAP settings share ``iemocap``."""
    return "iemocap" if dataset.startswith("iemocap") else dataset


_FIELD_ERROR = re.compile(r"^(?:TrainConfig|ModelConfig)\.(\w+) (.*)$", re.S)


def located(message: str, sources: dict[str, str], section: str, default_where: str) -> str:
    """Rewrite ``TrainConfig.lr must be ...`` as ``<where lr was set>: must be ...``.

    Messages that do not name a field come back prefixed with ``default_where``.
    """
    match = _FIELD_ERROR.match(message)
    if match is None:
        return f"{default_where}: {message}"
    name, rest = match.groups()
    return f"{sources.get(f'{section}.{name}', f'{default_where}.{name} (default)')}: {rest}"


def _any_key(section: Any) -> list[str]:
    return list(section) if isinstance(section, dict) else []
