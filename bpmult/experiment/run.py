"""Train an :class:`~bpmult.experiment.spec.Experiment` over its seeds, and load what it trained.

The wiring between the prepared data, the model registry and the model-agnostic engine
(:mod:`bpmult.train.engine`) lives here and nowhere else: ``bpmult train``, the pipeline's train
stage, the report's diagrams and users' own code all go through these functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

import numpy as np
import torch
from torch import nn

from bpmult.data import load_prepared, read_manifest
from bpmult.data.reader import make_collate
from bpmult.experiment.params import load_params, parse_seeds, resolve
from bpmult.experiment.seed_workers import run_in_workers, seed_workers
from bpmult.experiment.spec import (SEQUENCE_MODALITIES, Experiment, check_dataset, data_fingerprint, from_resolved,
                                    model_inputs, plan, read_run_config, resolve_modalities)
from bpmult.models import ModelConfig, build_model, variant_config
from bpmult.models.text_encoder import text_encoder_parameters
from bpmult.train import checkpoint as ckpt
from bpmult.train import metrics as M
from bpmult.train.artifacts import read_json, summarize
from bpmult.train.config import TrainConfig
from bpmult.train.engine import Objective, SeedData, train_seed
from bpmult.train.lock import run_lock
from bpmult.train.retention import apply_policy, removed_note
from bpmult.train.losses import pos_weight
from bpmult.train.runtime import distributed_device, is_writer, pick_device

SPLITS = ("train", "dev", "test")

# (variant, model kwargs) -> (model, config dict saved with the run); for models outside the registry
ModelFactory = Callable[[str, dict[str, Any]], tuple[nn.Module, dict[str, Any]]]


def registry_model(variant: str, model_kwargs: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``variant`` from ``bpmult.models``; returns the model and its full config as a dict."""
    cfg = variant_config(variant, **model_kwargs)
    return build_model(cfg), dataclasses.asdict(cfg)


def seed_data(data_dir: Path, manifest: dict[str, Any]) -> SeedData:
    """The three splits of a prepared folder, as the engine consumes them."""
    data_dir = Path(data_dir)
    ids = read_json(data_dir / "test" / "ids.json")
    return SeedData(splits={s: load_prepared(data_dir, s) for s in SPLITS}, collate=make_collate(manifest),
                    test_ids=list(ids),
                    label_names=list(manifest["label_names"]),
                    info={"dir": str(data_dir), "synthetic": manifest.get("synthetic"),
                          "text_encoder": manifest.get("text_encoder"), "splits": manifest.get("splits")})


def objective(dataset: str, manifest: dict[str, Any], data_dir: Path, train: TrainConfig) -> Objective:
    """The task of ``dataset``: its loss weights, metric function and selection metric."""
    names = [M.metric_key(n) for n in manifest["label_names"]]
    weights = None
    if manifest["task"] == "multilabel" and train.weight_classes:
        weights = pos_weight(np.load(Path(data_dir) / "train" / "label.npy"))
    return Objective(task=manifest["task"], selection_metric=M.selection_metric(dataset), pos_weight=weights,
                     metrics=lambda labels, probs: M.compute_metrics(dataset, labels, probs, names))


def train_experiment(exp: Experiment, out_dir: str | Path, *, resume: bool | str = False, progress: bool | TextIO = True,
                     device: str | torch.device | None = None) -> dict[str, Any]:
    """Train every seed of ``exp`` into ``out_dir/seed_<s>``; return the summary over them.

    The run folder is locked for the whole call (a second trainer fails at once). ``resume``: see
    :func:`bpmult.train.engine.train_seed`; ``"auto"`` keeps finished seeds and continues the
    interrupted one whenever its settings and data are unchanged. With ``BPMULT_SEED_WORKERS`` > 1
    (outside ``torchrun``) up to that many seeds train at once, one process and one GPU each
    (:mod:`bpmult.experiment.seed_workers`); their progress goes to stderr.
    """
    out_dir = Path(out_dir)
    workers = seed_workers() if int(os.environ.get("WORLD_SIZE", "1")) <= 1 else 1
    parallel = workers > 1 and len(exp.seeds) > 1
    if not parallel:  # a parallel run picks no device here: each worker claims its own GPU
        device = distributed_device(device)
    with run_lock(out_dir) if is_writer() else contextlib.nullcontext():  # torchrun: rank 0 holds it
        if parallel:
            console = bool(progress)
            run_in_workers(_train_seed_job, [(exp, out_dir, seed, resume, console, None if device is None else str(device))
                                             for seed in exp.seeds], workers)
        else:
            inputs = _seed_inputs(exp)
            for seed in exp.seeds:
                _train_one_seed(exp, out_dir, seed, inputs, resume=resume, progress=progress, device=device)
        if not is_writer():
            return {"seeds": list(exp.seeds)}
        apply_policy(out_dir, exp.seeds, exp.keep_weights, exp.selection_metric)  # every seed has finished
        return summarize(out_dir, exp.seeds)


def _seed_inputs(exp: Experiment) -> tuple[SeedData, Objective, str]:
    """What every seed of ``exp`` reads: the splits, the objective and the data's fingerprint."""
    return (seed_data(exp.data_dir, exp.manifest), objective(exp.dataset, exp.manifest, exp.data_dir, exp.train),
            data_fingerprint(exp.data_dir))


def _train_one_seed(exp: Experiment, out_dir: Path, seed: int, inputs: tuple[SeedData, Objective, str], *,
                    resume: bool | str, progress: bool | TextIO, device: torch.device) -> dict[str, Any]:
    data, task, fingerprint = inputs
    config = {**exp.run_config(seed), "data_sha256": fingerprint}
    return train_seed(exp.build_model, data, task, exp.train, out_dir / f"seed_{seed}", seed, config=config,
                      resume=resume, progress=progress, device=device, run_info=exp.run_info(),
                      label=f"{exp.dataset}/{exp.variant}", encoder_params=text_encoder_parameters)


def _train_seed_job(exp: Experiment, out_dir: Path, seed: int, resume: bool | str, console: bool,
                    device: str | None) -> None:
    """One seed in a worker process (:func:`run_in_workers`); it picks (claims) its own device."""
    _train_one_seed(exp, out_dir, seed, _seed_inputs(exp), resume=resume, progress=sys.stderr if console else False,
                    device=pick_device(device))


def train_seeds(dataset_dir: str | Path, variant: str, out_dir: str | Path,
                seeds: Iterable[int] | str | None = None, profile: str | None = None,
                overrides: Iterable[str] = (), resume: bool | str = False, *,
                params: dict[str, Any] | None = None, params_path: str | Path | None = None,
                dataset: str | None = None, modalities: str | None = None, progress: bool | TextIO = True,
                device: str | torch.device | None = None,
                model_factory: ModelFactory | None = None) -> dict[str, Any]:
    """Plan and train ``variant`` on a prepared dataset for each seed; return the summary.

    Everything is validated (:func:`bpmult.experiment.plan`) before any file is touched.
    ``model_factory`` trains a model outside the registry with the same settings.
    """
    if model_factory is None:
        exp = plan(dataset_dir, variant, dataset=dataset, modalities=modalities, profile=profile, params=params,
                   params_path=params_path, overrides=overrides, seeds=seeds)
        return train_experiment(exp, out_dir, resume=resume, progress=progress, device=device)
    manifest_dir = Path(dataset_dir)
    manifest = read_manifest(manifest_dir)
    dataset = check_dataset(manifest, dataset, manifest_dir)
    resolved = resolve(params if params is not None else load_params(params_path), dataset, variant,
                       profile=profile, overrides=overrides)
    chosen = resolved.seeds if seeds is None else parse_seeds(seeds)
    with run_lock(out_dir):
        for seed in chosen:
            train_run(dataset_dir, variant, Path(out_dir) / f"seed_{seed}", seed,
                      model_overrides=resolved.model_overrides, train=resolved.train, dataset=dataset,
                      modalities=modalities, resume=resume, progress=progress, device=device,
                      model_factory=model_factory,
                      run_info={"profile": resolved.profile, "overrides": list(resolved.overrides)})
        apply_policy(out_dir, chosen, resolved.keep_weights, M.selection_metric(dataset))
        return summarize(out_dir, chosen)


def train_run(dataset_dir: str | Path, variant: str, out_dir: str | Path, seed: int, *,
              model_overrides: dict[str, Any] | None = None, train: TrainConfig | None = None,
              dataset: str | None = None, modalities: str | None = None, resume: bool | str = False,
              progress: bool | TextIO = True, device: str | torch.device | None = None,
              model_factory: ModelFactory | None = None,
              run_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, select and test one (dataset, variant, seed) with explicit settings (no profile).

    Args:
        dataset_dir: a prepared-data folder (docs/design.md §1).
        variant: model variant name (``bpmult``, ``mult``, ...).
        out_dir: the seed's folder (``RUN/seed_<s>``).
        model_overrides: ModelConfig fields beside the data-derived ones.
        train: training settings; default ``TrainConfig()``.
        modalities: ``TVAP`` / ``TVAPM``.
        resume: see :func:`bpmult.train.engine.train_seed`.
        model_factory: ``(variant, model kwargs) -> (model, config dict)``; default the registry.

    Returns:
        The content of ``metrics.json``.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    train = train or TrainConfig()
    manifest = read_manifest(dataset_dir)
    dataset = check_dataset(manifest, dataset, dataset_dir)
    code, extras = resolve_modalities(manifest, modalities)
    kwargs = {**model_inputs(manifest, dataset, extras, variant), **(model_overrides or {})}
    if model_factory is None:  # validate the config before any file is touched, without building twice
        cfg = variant_config(variant, **kwargs)
        model_config, build = dataclasses.asdict(cfg), lambda: build_model(cfg)
    else:
        model_config, build = model_factory(variant, kwargs)[1], lambda: model_factory(variant, kwargs)[0]
    config = {"dataset": dataset, "variant": variant, "seed": seed, "modalities": code,
              "selection_metric": M.selection_metric(dataset), "model": model_config, "train": train.to_dict(),
              "data_sha256": data_fingerprint(dataset_dir)}
    return train_seed(build, seed_data(dataset_dir, manifest),
                      objective(dataset, manifest, dataset_dir, train), train, out_dir, seed, config=config,
                      resume=resume, progress=progress, device=pick_device(device), run_info=run_info,
                      label=f"{dataset}/{variant}")


@dataclass(frozen=True)
class TrainedModel:
    """A trained seed rebuilt: the model with its best weights, its config and what it was trained on."""

    model: nn.Module
    config: ModelConfig
    run_config: dict[str, Any]
    seed: int
    best_epoch: int


def trained_seeds(run_dir: str | Path) -> list[int]:
    """The seeds of ``run_dir`` that have best weights."""
    found = [p.parent.name[5:] for p in Path(run_dir).glob("seed_*/best.pt")]
    return sorted(int(s) for s in found if s.isdigit())


def load_trained(run_dir: str | Path, seed: int | None = None, *, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild a trained model from its run folder: its config and its best epoch's weights.

    Args:
        run_dir: ``RUN`` (holding ``seed_<s>/``) or a seed folder itself.
        seed: which seed; default the lowest trained one.

    Raises:
        FileNotFoundError: naming the run folder when it holds no trained seed.
    """
    run_dir = Path(run_dir)
    if seed is None and (run_dir / "best.pt").is_file() and run_dir.name.startswith("seed_"):
        run_dir, seed = run_dir.parent, int(run_dir.name[5:])
    if seed is None:
        seeds = trained_seeds(run_dir)
        if not seeds:
            raise FileNotFoundError(f"{run_dir}: no seed_<s>/best.pt; train first (bpmult train ... --out {run_dir})")
        seed = seeds[0]
    run_config = read_run_config(run_dir, seed)
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    stored = run_config.get("model") or {}
    unknown = sorted(set(stored) - fields)
    if unknown:
        raise ValueError(f"{run_dir}/seed_{seed}/config.json: model keys {unknown} are not ModelConfig fields of "
                         f"this bpmult version")
    config = ModelConfig(**stored)
    note = None if (run_dir / f"seed_{seed}" / "best.pt").is_file() else removed_note(run_dir, seed)
    if note:
        raise FileNotFoundError(f"{run_dir / f'seed_{seed}' / 'best.pt'}: missing; {note}")
    weights = ckpt.load_checkpoint(run_dir / f"seed_{seed}" / "best.pt", map_location=device)
    model = build_model(config)
    model.load_state_dict(weights["model"])
    model.to(device).eval()
    return TrainedModel(model=model, config=config, run_config=run_config, seed=seed,
                        best_epoch=int(weights.get("epoch", 0)))


__all__ = ["ModelFactory", "SEQUENCE_MODALITIES", "TrainedModel", "from_resolved", "load_trained",
           "registry_model", "seed_data", "train_experiment", "train_run", "train_seeds", "trained_seeds"]
