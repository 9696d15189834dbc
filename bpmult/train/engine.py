"""The engine: train, select and test one seed of one model, resumably.

The engine is model-agnostic: it receives a function that builds the model, the three splits, an
:class:`Objective` (task, selection metric, metric function, class weights) and a
:class:`~bpmult.train.config.TrainConfig`, and knows the model only through ``model(batch)`` and
``model(batch, return_analysis=True)``. What it does is the authors' recipe (peer-code notes §3.8):
Adam, ReduceLROnPlateau on the dev selection metric (``max``; MuLT's rows: dev loss, ``min``),
early stopping, gradient accumulation, the best dev epoch's weights tested once.

Under ``torchrun`` (an initialised process group) the model is wrapped in
``DistributedDataParallel``, each process trains on its shard of every epoch's single-process permutation
(:class:`~bpmult.train.loop.ShardedShuffle`), every process evaluates the whole
dev split (so selection needs no communication) and only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm import tqdm

from bpmult.train import checkpoint as ckpt
from bpmult.train.artifacts import (atomic_write_json, history_csv, read_json, to_jsonable, write_analysis,
                                    write_predictions)
from bpmult.atomic import atomic_write_text
from bpmult.train.config import TrainConfig
from bpmult.train.losses import TaskLoss
from bpmult.train.loop import (ShardedShuffle, epoch_shuffle_seed, evaluate, loader_settings, make_loader, predict,
                               progress_stream, train_one_epoch)
from bpmult.train.runtime import (cpu_threads, describe_device, deterministic_algorithms, is_writer,
                                  keep_freed_cpu_memory, seed_everything, versions)

ARTIFACTS = ("checkpoint.pt", "best.pt", "metrics.json", "history.csv", "predictions.npz", "analysis.npz",
             "config.json")


@dataclass(frozen=True)
class Objective:
    """What the engine needs to know about the task.

    Attributes:
        task: ``multilabel`` or ``iemocap`` (the loss and the probabilities).
        selection_metric: the dev metric that picks the best epoch (higher is better).
        metrics: ``(labels, probs) -> {name: value}``; must include ``selection_metric``.
        pos_weight: (C,) BCE positive-class weights, or None.
    """

    task: str
    selection_metric: str
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    pos_weight: torch.Tensor | None = None


@dataclass(frozen=True)
class SeedData:
    """The splits of one prepared dataset as the engine consumes them.

    Attributes:
        splits: ``train``, ``dev`` and ``test`` datasets whose items are dicts of tensors.
        collate: batches items (``bpmult.data.collate`` or a cropping collate).
        test_ids: the upstream id of every test row, in row order.
        label_names: the class names, in the label columns' order.
        info: what ``config.json`` records about the data (folder, synthetic, encoder, splits).
    """

    splits: dict[str, Dataset]
    collate: Callable
    test_ids: list[Any]
    label_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(to_jsonable(config), sort_keys=True)


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _param_groups(model: nn.Module, train: TrainConfig, encoder_params: Callable | None) -> Any:
    """All parameters at ``lr``; a model's own text encoder (BERT) at ``encoder_lr`` when set."""
    encoder = list(encoder_params(model)) if encoder_params is not None else []
    if train.encoder_lr is None or not encoder:
        return model.parameters()
    ids = {id(p) for p in encoder}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": rest, "lr": train.lr}, {"params": encoder, "lr": train.encoder_lr}]


def make_adam(params: Any, *, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam as the authors train with it (PyTorch's defaults, no weight decay), in PyTorch's fused
    implementation on CPU and CUDA: one kernel over all tensors instead of about ten small operators
    per tensor (a MuLT step at d 30 has 459 of them; docs/benchmarks.md). The update is the same
    to float rounding."""
    return torch.optim.Adam(params, lr=lr, fused=True if device.type in ("cpu", "cuda") else None)


def _improved(score: float, best: float, train: TrainConfig) -> bool:
    # the authors stop on ties (`>=`); a tolerance keeps float noise (~1e-8) from deciding
    if train.early_stop_ties:
        return score >= best - train.improve_tol
    return score > best + train.improve_tol


def _previous_state(paths: dict[str, Path], resume: bool | str, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to continue from, or None for a fresh start.

    ``resume=True``: a checkpoint of another config is an error. ``resume="auto"`` (the pipeline):
    such a checkpoint is stale (other data or settings) and the seed starts over.
    """
    if not resume or not paths["checkpoint.pt"].is_file():
        return None
    previous = ckpt.load_checkpoint(paths["checkpoint.pt"])
    if _canonical(previous["config"]) == _canonical(config):
        if previous.get("slim") and not paths["metrics.json"].is_file():
            return None  # a finished record without its metrics: nothing left to continue
        return previous
    if resume == "auto":
        return None
    raise ValueError(f"{paths['checkpoint.pt']}: trained with another config; rerun without --resume "
                     f"or use another --out.\n  checkpoint: {_canonical(previous['config'])}\n  now:        "
                     f"{_canonical(config)}")


def train_seed(build: Callable[[], nn.Module], data: SeedData, objective: Objective, train: TrainConfig,
               out_dir: str | Path, seed: int, *, config: dict[str, Any], resume: bool | str = False,
               progress: bool | TextIO = True, device: torch.device, run_info: dict[str, Any] | None = None,
               label: str = "", encoder_params: Callable[[nn.Module], Any] | None = None) -> dict[str, Any]:
    """Train, select and test one seed; write its artifacts to ``out_dir`` (``RUN/seed_<s>``).

    Args:
        build: returns a freshly initialised model; called after seeding, so ``seed`` fixes it.
        data: the splits.
        objective: task, selection metric, metric function, class weights.
        train: the training settings.
        out_dir: the seed's folder.
        seed: seeds python, numpy and torch, and the data order of every epoch.
        config: the resolved run config saved with every checkpoint (a resume must match it).
        resume: False (start over), True (continue a matching checkpoint; another config is an
            error) or ``"auto"`` (continue a matching one, start over otherwise). A finished seed
            with its ``metrics.json`` is returned as is.
        device: where to train.
        run_info: extra entries for ``config.json``.
        label: ``dataset/variant`` for progress lines.
        progress: True (a bar per epoch and a line per epoch, on stderr), False (silent) or a stream
            for both (the pipeline passes its terminal; a stream that is not a terminal gets the
            lines alone).
        encoder_params: ``model -> parameters`` trained at ``train.encoder_lr`` (a text encoder
            inside the model, fine-tuned); None: one learning rate for all.

    Returns:
        The content of ``metrics.json``: ``dev`` (at the best epoch) and ``test`` metrics,
        ``best_epoch``, ``epochs``, ``train_seconds``, ``n_params``, ``selection_metric``.
    """
    out_dir = Path(out_dir)
    paths = {name: out_dir / name for name in ARTIFACTS}
    config = json.loads(_canonical(config))
    metric, writer = objective.selection_metric, is_writer()
    previous = _previous_state(paths, resume, config)
    if previous is not None and previous["finished"] and paths["metrics.json"].is_file():
        return read_json(paths["metrics.json"])
    if previous is None and writer:  # a fresh start: stale artifacts of another run must not survive
        for path in paths.values():
            path.unlink(missing_ok=True)
            path.with_name(path.name + ckpt.DIGEST_SUFFIX).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob(".*.tmp") if writer else ():  # temporary files of a killed writer
        leftover.unlink(missing_ok=True)

    if torch.device(device).type == "cpu":  # freed activations reused between steps, not faulted in again
        keep_freed_cpu_memory()
    with deterministic_algorithms(train.deterministic, device), cpu_threads(train.cpu_threads, device):
        seed_everything(seed)
        device_text = describe_device(device)
        model = build().to(device)
        net = DistributedDataParallel(model) if _world() > 1 else model
        loss_fn = TaskLoss(objective.task, objective.pos_weight).to(device)
        optimizer = make_adam(_param_groups(model, train, encoder_params), lr=train.lr, device=torch.device(device))
        on_loss = train.lr_mode == "min_loss"
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min" if on_loss else "max", patience=train.lr_patience, factor=train.lr_factor)
        eval_batch = train.eval_batch_size or train.batch_size
        loader_args = {"collate": data.collate, **loader_settings(train, device)}
        dev_loader = make_loader(data.splits["dev"], eval_batch, **loader_args)

        state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": None, "bad_epochs": 0,
                 "history": [], "train_seconds": 0.0, "finished": False}
        if previous is not None:
            model.load_state_dict(previous["model"])
            optimizer.load_state_dict(previous["optimizer"])
            scheduler.load_state_dict(previous["scheduler"])
            state.update({k: previous[k] for k in state})
            ckpt.set_rng_state(previous["rng"])

        while not state["finished"]:
            epoch = state["epoch"] + 1
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            shuffle = epoch_shuffle_seed(seed, epoch)
            sampler = (ShardedShuffle(len(data.splits["train"]), seed=shuffle, rank=dist.get_rank(), world=_world())
                       if _world() > 1 else None)
            train_loader = make_loader(data.splits["train"], train.batch_size, shuffle_seed=shuffle,
                                       sampler=sampler, **loader_args)
            stats = train_one_epoch(net, train_loader, loss_fn, optimizer, device=device, epoch=epoch,
                                    grad_accum=train.grad_accum, clip=train.clip, amp=train.amp, progress=progress)
            dev = evaluate(model, dev_loader, loss_fn, task=objective.task, metrics=objective.metrics,
                           device=device, amp=train.amp)
            score = dev[metric] if math.isfinite(dev[metric]) else -math.inf  # NaN never "improves"
            scheduler.step(dev["loss"] if on_loss else score)
            if state["best_epoch"] is None or _improved(score, state["best_metric"], train):
                state.update(best_metric=score, best_epoch=epoch, bad_epochs=0)
                if writer:
                    ckpt.save_weights(paths["best.pt"], model, epoch=epoch, metric=score, config=config)
            else:
                state["bad_epochs"] += 1
            state["history"].append({"epoch": epoch, "train_loss": stats["train_loss"], "dev_loss": dev["loss"],
                                     **{f"dev_{k}": v for k, v in dev.items() if k != "loss"}, "lr": lr})
            state["epoch"] = epoch
            state["finished"] = state["bad_epochs"] >= train.patience or epoch >= train.max_epochs
            state["train_seconds"] += time.perf_counter() - started
            if writer:
                ckpt.save_checkpoint(paths["checkpoint.pt"], model=model, optimizer=optimizer, scheduler=scheduler,
                                     config=config, **state)
                atomic_write_text(paths["history.csv"], history_csv(state["history"]))
            if _world() > 1:
                dist.barrier()  # every rank reads best.pt below only once rank 0 has written it
            if progress and writer:
                tqdm.write(f"{label} seed {seed} epoch {epoch}: train loss {stats['train_loss']:.4f}, "
                           f"dev loss {dev['loss']:.4f}, dev {metric} {dev[metric]:.2f}, lr {lr:.2e}",
                           file=progress_stream(progress))

        # test the best epoch's weights
        model.load_state_dict(ckpt.load_checkpoint(paths["best.pt"], map_location=device)["model"])
        test_loader = make_loader(data.splits["test"], eval_batch, **loader_args)
        out = predict(model, test_loader, loss_fn, task=objective.task, device=device, amp=train.amp,
                      return_analysis=True)
    test = {"loss": out["loss"], **objective.metrics(out["labels"], out["probs"])}
    best_row = state["history"][state["best_epoch"] - 1]
    dev = {"loss": best_row["dev_loss"], **{k[4:]: v for k, v in best_row.items()
                                            if k.startswith("dev_") and k != "dev_loss"}}
    result = {"dev": dev, "test": test, "best_epoch": state["best_epoch"], "epochs": state["epoch"],
              "train_seconds": round(state["train_seconds"], 3),
              "n_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "selection_metric": metric}
    if not writer:
        return json.loads(_canonical(result))
    write_predictions(paths["predictions.npz"], out, data.test_ids, data.label_names)
    write_analysis(paths["analysis.npz"], out["analysis"], model)
    atomic_write_json(paths["config.json"], {**config, **(run_info or {}), "data": data.info,
                                             "versions": versions(), "device": device_text})
    atomic_write_json(paths["metrics.json"], result)
    # the seed is done: drop weights and optimizer state from the resume checkpoint (best.pt stays)
    ckpt.save_finished(paths["checkpoint.pt"], config=config, lr=optimizer.param_groups[0]["lr"],
                       **{k: state[k] for k in state if k != "finished"})
    return read_json(paths["metrics.json"])  # exactly what is on disk (NaN → None)
