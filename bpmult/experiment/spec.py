"""An experiment: a profile + overrides + a prepared dataset, turned into validated configs.

This is the one place that knows both sides: it reads the prepared data's manifest (input widths,
lengths, classes, task), the profile's settings and the ``--set`` overrides, and produces a
:class:`~bpmult.models.ModelConfig` and a :class:`~bpmult.train.config.TrainConfig`. Every check
happens here, before any file is touched: a bad value is reported with the params path it came from
(``embedded.moviescope.train.lr: must be a positive finite number; got 'fast'``), and ``d_model``
not divisible by ``num_heads`` is caught here, not inside training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from torch import nn

from bpmult.data import read_manifest
from bpmult.data.text import minilm_path
from bpmult.experiment.params import Resolved, load_params, located, parse_seeds, resolve
from bpmult.models import ModelConfig, build_model, variant_config
from bpmult.train import metrics as M
from bpmult.train.config import TrainConfig

SEQUENCE_MODALITIES = ("text", "video", "audio")
EXTRA_MODALITIES = {"P": "poster", "M": "metadata"}  # --modalities letters beyond T, V, A
# datasets whose audio input is a raw mel spectrogram, fed through the authors' Conv1d audio encoder
AUDIO_ENCODER_DATASETS = ("moviescope",)


def resolve_modalities(manifest: dict[str, Any], modalities: str | None) -> tuple[str, tuple[str, ...]]:
    """The modality setting and the extra vectors it feeds the model.

    ``T``, ``V``, ``A`` are always used. ``P`` adds the poster where the dataset has one (IEMOCAP
    and CMU-MOSEI have none, so ``TVAP`` is ``TVA`` there: one setting name serves every dataset);
    ``M`` adds the metadata vector (Moviescope's TVAPM setting, Table 1), which must be present.
    None means ``TVAP``.

    Returns:
        (the effective setting, e.g. ``"TVAP"`` or ``"TVA"``; the extra modality names, e.g.
        ``("poster",)``).

    Raises:
        ValueError: on an unknown letter or a requested metadata vector the prepared data lacks.
    """
    available = manifest["modalities"]
    code = (modalities or "TVAP").upper()
    if not code.startswith("TVA") or any(c not in EXTRA_MODALITIES for c in code[3:]) or len(set(code)) != len(code):
        raise ValueError(f"--modalities {modalities!r}: expected TVA followed by P and/or M (e.g. TVAP, TVAPM)")
    missing = [m for m in SEQUENCE_MODALITIES if m not in available and not (m == "text" and "text_ids" in available)]
    if "M" in code and "metadata" not in available:
        missing.append("metadata")
    if missing:
        raise ValueError(f"--modalities {code}: the prepared {manifest.get('dataset')!r} data has no {missing}; "
                         f"it has {sorted(available)}")
    letters = [c for c in code[3:] if EXTRA_MODALITIES[c] in available]
    return "TVA" + "".join(letters), tuple(EXTRA_MODALITIES[c] for c in letters)


def encoder_location(name: str) -> str:
    """Where the model loads a text encoder named in a manifest: the packaged MiniLM's folder, or
    the Hugging Face name (resolved in the local cache only)."""
    return str(minilm_path()) if name == "minilm" else name


def model_inputs(manifest: dict[str, Any], dataset: str, extras: Iterable[str],
                 variant: str | None = None) -> dict[str, Any]:
    """ModelConfig fields that follow from the prepared data (docs/design.md §2).

    Text prepared as word-piece ids (``text_features: token_ids``) puts the encoder inside the
    model: ``text_encoder`` is set, and the text width is the encoder's — except for the GMU
    baseline, which reads the mean of its GloVe sequence and never the text.
    """
    shapes = dict(manifest["modalities"])
    encoder = manifest.get("text_encoder") or {}
    token_ids = "text_ids" in shapes
    if token_ids:
        shapes["text"] = [shapes["text_ids"][0], int(encoder["dim"])]
    for name in SEQUENCE_MODALITIES:
        if name not in shapes or len(shapes[name]) != 2:
            raise ValueError(f"manifest 'modalities.{name}': expected [length, width]; got {shapes[name]}")
    extras = tuple(extras)
    for name in extras:
        if len(shapes[name]) != 1:
            raise ValueError(f"manifest 'modalities.{name}': expected [width]; got {shapes[name]}")
    return {
        "orig_d_text": int(shapes["text"][1]), "orig_d_video": int(shapes["video"][1]),
        "orig_d_audio": int(shapes["audio"][1]),
        "len_text": int(shapes["text"][0]), "len_video": int(shapes["video"][0]),
        "len_audio": int(shapes["audio"][0]),
        "extras": tuple((name, int(shapes[name][0])) for name in extras),
        "n_classes": len(manifest["label_names"]), "head": manifest["task"],
        "audio_encoder": dataset in AUDIO_ENCODER_DATASETS,
        "text_first_token_is_cls": bool(encoder["first_token_is_cls"]),
        "text_encoder": encoder_location(encoder["name"]) if token_ids and variant != "gmu" else None,
    }


def check_dataset(manifest: dict[str, Any], dataset: str | None, dataset_dir: Path) -> str:
    """The dataset's name: the manifest's, which must agree with ``dataset`` when given."""
    name = manifest.get("dataset")
    if dataset is not None and name is not None and dataset != name:
        raise ValueError(f"{dataset_dir}/manifest.json: 'dataset' is {name!r}, but training was asked for {dataset!r}")
    dataset = dataset or name
    if dataset is None:
        raise ValueError(f"{dataset_dir}/manifest.json: no 'dataset' key; pass the dataset name")
    return dataset


def data_fingerprint(dataset_dir: Path) -> str:
    """SHA-256 of the manifest, which lists the digest of every source and every data setting."""
    return hashlib.sha256((Path(dataset_dir) / "manifest.json").read_bytes()).hexdigest()


@dataclass(frozen=True)
class Experiment:
    """One (dataset, variant, modalities) under one profile, validated and ready to train.

    Attributes:
        dataset, variant, modalities: what is trained (``modalities`` effective, e.g. ``TVA``).
        data_dir: the prepared data.
        model: the full model config (data-derived fields included).
        train: the training settings.
        seeds: the seeds to train.
        profile, overrides: where the settings came from.
        manifest: the prepared data's manifest.
        definition: the named model definition (``authors`` / ``paper``) or None (package defaults).
        keep_weights: which seeds keep ``best.pt`` once every seed finished (``all`` | ``best_seed``).
    """

    dataset: str
    variant: str
    modalities: str
    data_dir: Path
    model: ModelConfig
    train: TrainConfig
    seeds: tuple[int, ...]
    profile: str = ""
    overrides: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    definition: str | None = None
    keep_weights: str = "all"

    @property
    def selection_metric(self) -> str:
        return M.selection_metric(self.dataset)

    @property
    def extras(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.model.extras)

    def run_config(self, seed: int) -> dict[str, Any]:
        """What a checkpoint of ``seed`` is compared against on resume (and saved with it)."""
        return {"dataset": self.dataset, "variant": self.variant, "seed": seed, "modalities": self.modalities,
                "selection_metric": self.selection_metric, "model": dataclasses.asdict(self.model),
                "train": self.train.to_dict()}

    def run_info(self) -> dict[str, Any]:
        return {"profile": self.profile, "overrides": list(self.overrides),
                "definition": self.definition or "defaults"}

    def build_model(self) -> nn.Module:
        return build_model(self.model)


def plan(data_dir: str | Path, variant: str, *, dataset: str | None = None, modalities: str | None = None,
         profile: str | None = None, params: dict[str, Any] | None = None, params_path: str | Path | None = None,
         overrides: Iterable[str] = (), seeds: Iterable[int] | str | None = None) -> Experiment:
    """Validate everything about one experiment before any work: the :class:`Experiment`.

    Raises:
        ValueError / FileNotFoundError: one line naming the file or params path, the key and what
        was expected.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    dataset = check_dataset(manifest, dataset, data_dir)
    params = params if params is not None else load_params(params_path)
    resolved = resolve(params, dataset, variant, profile=profile, overrides=overrides)
    return from_resolved(data_dir, manifest, dataset, variant, resolved, modalities=modalities,
                         seeds=None if seeds is None else parse_seeds(seeds))


def from_resolved(data_dir: Path, manifest: dict[str, Any], dataset: str, variant: str, resolved: Resolved, *,
                  modalities: str | None = None, seeds: list[int] | None = None) -> Experiment:
    """The experiment of already-resolved settings (see :func:`plan`)."""
    code, extras = resolve_modalities(manifest, modalities)
    where = f"{resolved.profile}.{dataset}.model"
    # the data gives widths and lengths; a definition may fix lengths (the authors' padding); the
    # profile sets sizes and wins over both
    kwargs = {**model_inputs(manifest, dataset, extras, variant), **resolved.definition_model, **resolved.model_overrides}
    try:
        model = variant_config(variant, **kwargs)
    except ValueError as err:
        raise ValueError(located(str(err), resolved.sources, "model", where)) from None
    return Experiment(dataset=dataset, variant=variant, modalities=code, data_dir=Path(data_dir), model=model,
                      train=resolved.train, seeds=tuple(resolved.seeds if seeds is None else seeds),
                      profile=resolved.profile, overrides=tuple(resolved.overrides), manifest=manifest,
                      definition=resolved.definition, keep_weights=resolved.keep_weights)


def read_run_config(run_dir: Path, seed: int) -> dict[str, Any]:
    """The ``config.json`` a trained seed left."""
    path = Path(run_dir) / f"seed_{seed}" / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; train seed {seed} first") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def from_manifest(manifest: dict[str, Any], dataset: str, variant: str, params: dict[str, Any], profile: str,
                  data_dir: str | Path = "", modalities: str | None = None) -> Experiment:
    """The experiment a profile's training run builds for this prepared data (no folder read)."""
    resolved = resolve(params, dataset, variant, profile=profile)
    return from_resolved(Path(data_dir), manifest, dataset, variant, resolved, modalities=modalities)
