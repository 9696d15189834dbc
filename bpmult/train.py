"""The training loop: model-agnostic, deterministic, resumable, and returning dicts.

The trainer knows the model only through its call ``model(batch) -> logits`` and
``model(batch, return_analysis=True) -> (logits, analysis)`` (docs/design.md §2); the loss lives
here, not in the model. What the authors' code does (peer-code notes §3.8) and we keep: Adam,
ReduceLROnPlateau(max) on the dev selection metric, early stopping, gradient accumulation, BCE
with ``pos_weight = N / freq``; for IEMOCAP, MuLT's cross-entropy per emotion on a 4 × 2 head.

Layout of a run (docs/design.md §3)::

    RUN/seed_<s>/metrics.json history.csv predictions.npz analysis.npz config.json
                 checkpoint.pt (last epoch, for --resume) best.pt (best weights)
    RUN/summary.json               mean / std / n over seeds of every dev and test metric

Shapes: B batch, C classes, E = 4 IEMOCAP emotions; logits (B, C) or, for IEMOCAP, (B, 2E)
laid out ``[emo0_neg, emo0_pos, emo1_neg, ...]``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import platform
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

import bpmult
from bpmult import checkpoint as ckpt
from bpmult import metrics as M
from bpmult.profiles import load_params, parse_seeds, resolve
from bpmult.train_config import TrainConfig

SPLITS = ("train", "dev", "test")
SEQUENCE_MODALITIES = ("text", "video", "audio")
EXTRA_MODALITIES = {"P": "poster", "M": "metadata"}  # --modalities letters beyond T, V, A
AUDIO_ENCODER_DATASETS = ("moviescope",)  # raw mel spectrogram → the authors' Conv1d audio encoder

# (variant, model kwargs) -> (model, config dict saved with the run)
ModelFactory = Callable[[str, dict[str, Any]], tuple[nn.Module, dict[str, Any]]]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stops rather than train on garbage."""


def selection_metric(dataset: str) -> str:
    """The dev metric that picks the best epoch of ``dataset`` (see ``bpmult.metrics``)."""
    return M.selection_metric(dataset)


# ----------------------------------------------------------------------------- environment
def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the first CUDA device when there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True, device: torch.device | None = None) -> Iterator[None]:
    """Deterministic CUDA algorithms inside the block; the previous mode after it.

    On CUDA: ``torch.use_deterministic_algorithms`` (warn-only: an op without a deterministic
    kernel, e.g. adaptive average pooling's backward, warns instead of stopping the run),
    deterministic cuDNN and cuBLAS workspace. On CPU nothing is switched: the CPU kernels used here
    are deterministic already (the resume test checks bit-identity), and the switch would cost
    seconds of imports (torch._inductor) in every process.
    """
    if not enabled or device is None or device.type != "cuda":
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (CUDA >= 10.2)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]


@contextlib.contextmanager
def cpu_threads(threads: int | None, device: torch.device) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` inside the block when training on the CPU."""
    if threads is None or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def versions() -> dict[str, str]:
    """Versions of the software a result depends on."""
    import sklearn

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "bpmult": bpmult.__version__}


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


# ----------------------------------------------------------------------------- losses
def pos_weight(train_labels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """BCE ``pos_weight = N / freq`` per class (the authors' ``(freq / N) ** -1``).

    A class without any positive training sample gets weight 1: its weight would be infinite, and
    it only ever multiplies positive targets, of which training has none.

    Args:
        train_labels: (N, C) multi-hot training labels.

    Returns:
        (C,) float32 weights.
    """
    labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.float64)
    if labels.ndim != 2:
        raise ValueError(f"pos_weight: train labels must be (N, C); got shape {tuple(labels.shape)}")
    freq = labels.sum(dim=0)
    weight = torch.where(freq > 0, labels.shape[0] / freq.clamp(min=1), torch.ones_like(freq))
    return weight.float()


def iemocap_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MuLT's IEMOCAP loss: cross-entropy per emotion over its (negative, positive) logits.

    Args:
        logits: (B, 2E) laid out ``[emo0_neg, emo0_pos, emo1_neg, ...]``.
        labels: (B, E) int64 in {0, 1}.

    Returns:
        The mean over the B·E binary problems.
    """
    if logits.shape[-1] != 2 * labels.shape[-1]:
        raise ValueError(f"iemocap_loss: logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)} (need 2 per emotion)")
    return F.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1).long())


class TaskLoss(nn.Module):
    """The loss of a task: ``multilabel`` (weighted BCE with logits) or ``iemocap`` (4 × 2-way CE).

    Args:
        task: the manifest's ``task``.
        pos_weight: (C,) BCE positive-class weights, or None for unweighted BCE.
    """

    def __init__(self, task: str, pos_weight: torch.Tensor | None = None):
        super().__init__()
        if task not in ("multilabel", "iemocap"):
            raise ValueError(f"unknown task {task!r}; expected 'multilabel' or 'iemocap'")
        self.task = task
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # the loss in float32 also under bf16 autocast
        if self.task == "iemocap":
            return iemocap_loss(logits, labels)
        return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=self.pos_weight)


def probabilities(task: str, logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid probabilities (B, C), or for IEMOCAP softmax probabilities (B, E, 2)."""
    logits = logits.float()
    if task == "iemocap":
        return logits.reshape(logits.shape[0], -1, 2).softmax(dim=-1)
    return logits.sigmoid()


# ----------------------------------------------------------------------------- data
def _data_api():
    from bpmult.data import collate, load_prepared, read_manifest

    return read_manifest, load_prepared, collate


def read_manifest(dataset_dir: str | Path) -> dict[str, Any]:
    """The manifest of a prepared-data folder (docs/design.md §1)."""
    return _data_api()[0](dataset_dir)


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
    missing = [m for m in SEQUENCE_MODALITIES if m not in available]
    if "M" in code and "metadata" not in available:
        missing.append("metadata")
    if missing:
        raise ValueError(f"--modalities {code}: the prepared {manifest.get('dataset')!r} data has no {missing}; "
                         f"it has {sorted(available)}")
    letters = [c for c in code[3:] if EXTRA_MODALITIES[c] in available]
    return "TVA" + "".join(letters), tuple(EXTRA_MODALITIES[c] for c in letters)


def model_inputs(manifest: dict[str, Any], dataset: str, extras: Sequence[str]) -> dict[str, Any]:
    """ModelConfig fields that follow from the prepared data (docs/design.md §2)."""
    shapes = manifest["modalities"]
    for name in SEQUENCE_MODALITIES:
        if len(shapes[name]) != 2:
            raise ValueError(f"manifest 'modalities.{name}': expected [length, width]; got {shapes[name]}")
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
        "text_first_token_is_cls": bool(manifest["text_encoder"]["first_token_is_cls"]),
    }


def registry_model(variant: str, model_kwargs: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``variant`` from ``bpmult.models``; returns the model and its full config as a dict."""
    from bpmult.models import build_model, variant_config

    cfg = variant_config(variant, **model_kwargs)
    return build_model(cfg), dataclasses.asdict(cfg)


def _loader(dataset: torch.utils.data.Dataset, batch_size: int, *, shuffle_seed: int | None,
            num_workers: int) -> DataLoader:
    # an explicit generator, seeded per (seed, epoch), makes the shuffle of every epoch
    # reproducible on its own, so a resumed run sees the same batches as an uninterrupted one
    generator = torch.Generator().manual_seed(0 if shuffle_seed is None else shuffle_seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator, collate_fn=_data_api()[2], num_workers=num_workers)


def _epoch_shuffle_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


# ----------------------------------------------------------------------------- one epoch
def train_one_epoch(model: nn.Module, loader: DataLoader, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, *, device: torch.device, epoch: int,
                    grad_accum: int = 1, clip: float | None = None, amp: bool = True,
                    progress: bool = True) -> dict[str, float]:
    """One pass over ``loader`` with gradient accumulation.

    The gradients of ``grad_accum`` consecutive micro-batches are summed, each micro-batch loss
    scaled by 1 / (micro-batches in its group), then one optimizer step is taken; a shorter last
    group at the end of the epoch is stepped too, so no gradient crosses an epoch boundary.

    Returns:
        ``train_loss`` (mean over samples) and ``steps`` (optimizer steps taken).

    Raises:
        NonFiniteLossError: naming the epoch and the batch where the loss became NaN or infinite.
    """
    model.train()
    n_batches = len(loader)
    total, seen, steps = 0.0, 0, 0
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    for index, batch in enumerate(bar):
        batch = _to_device(batch, device)
        labels = batch.pop("label")
        with _autocast(device, amp):
            logits = model(batch)
        loss = loss_fn(logits, labels)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item()}) at epoch {epoch}, step {index + 1} of {n_batches} "
                f"(optimizer step {steps + 1}); lower train.lr or set train.clip")
        group_start = index - index % grad_accum
        group_size = min(grad_accum, n_batches - group_start)
        (loss / group_size).backward()
        if index + 1 == group_start + group_size:
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
        total += loss.item() * labels.shape[0]
        seen += labels.shape[0]
        bar.set_postfix(loss=f"{total / seen:.4f}")
    return {"train_loss": total / max(seen, 1), "steps": steps}


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, *, task: str,
            device: torch.device, amp: bool = True, return_analysis: bool = False) -> dict[str, Any]:
    """Run ``model`` over ``loader`` in eval mode.

    Returns:
        ``probs`` (N, C) or (N, E, 2), ``labels`` as stored, ``loss`` (mean over samples) and,
        with ``return_analysis``, ``analysis`` = {"gates": {name: (N, ...)}, "tokens": {...}}
        as float32 numpy arrays.
    """
    model.eval()
    probs, labels, total, seen = [], [], 0.0, 0
    parts: dict[str, dict[str, list[np.ndarray]]] = {"gates": {}, "tokens": {}}
    for batch in loader:
        batch = _to_device(batch, device)
        target = batch.pop("label")
        with _autocast(device, amp):
            out = model(batch, return_analysis=True) if return_analysis else model(batch)
        logits, analysis = out if return_analysis else (out, None)
        total += loss_fn(logits, target).item() * target.shape[0]
        seen += target.shape[0]
        probs.append(probabilities(task, logits).cpu().numpy())
        labels.append(target.cpu().numpy())
        if analysis is not None:
            for kind in parts:
                for name, value in analysis.get(kind, {}).items():
                    parts[kind].setdefault(name, []).append(value.detach().float().cpu().numpy())
    result = {"probs": np.concatenate(probs), "labels": np.concatenate(labels), "loss": total / max(seen, 1)}
    if return_analysis:
        result["analysis"] = {kind: {name: np.concatenate(chunks) for name, chunks in named.items()}
                              for kind, named in parts.items()}
    return result


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, *, dataset: str, task: str,
             device: torch.device, amp: bool = True, label_names: Sequence[str] | None = None) -> dict[str, float]:
    """The loss and every metric of ``dataset`` on ``loader`` (metrics in %, see ``bpmult.metrics``)."""
    out = predict(model, loader, loss_fn, task=task, device=device, amp=amp)
    return {"loss": out["loss"], **M.compute_metrics(dataset, out["labels"], out["probs"], label_names)}


# ----------------------------------------------------------------------------- one seed
def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(ckpt.to_jsonable(config), sort_keys=True)


def _history_csv(history: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def _label_names(manifest: dict[str, Any]) -> list[str]:
    return [M.metric_key(n) for n in manifest["label_names"]]


def train_run(dataset_dir: str | Path, variant: str, out_dir: str | Path, seed: int, *,
              model_overrides: dict[str, Any] | None = None, train: TrainConfig | None = None,
              dataset: str | None = None, modalities: str | None = None, resume: bool = False,
              progress: bool = True, device: str | torch.device | None = None,
              model_factory: ModelFactory | None = None,
              run_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, select and test one (dataset, variant, seed); write its artifacts to ``out_dir``.

    Args:
        dataset_dir: a prepared-data folder (docs/design.md §1).
        variant: model variant name (``bpmult``, ``mult``, ...).
        out_dir: the seed's folder (``RUN/seed_<s>``).
        seed: seeds python, numpy and torch; also the data shuffling of every epoch.
        model_overrides: ModelConfig fields beside the data-derived ones (d_model, layers, ...).
        train: training settings; default ``TrainConfig()``.
        dataset: the dataset's name; default the manifest's (must agree when given).
        modalities: ``TVAP`` / ``TVAPM`` (see :func:`resolve_modalities`).
        resume: continue from ``out_dir/checkpoint.pt`` when it exists; a finished run with its
            ``metrics.json`` is returned as is. Without it, any previous state is discarded.
        progress: show a progress bar per epoch.
        device: default CUDA when available, else CPU.
        model_factory: ``(variant, model kwargs) -> (model, config dict)``; default
            :func:`registry_model`. Anything with the design.md §2 forward works.
        run_info: extra entries for ``config.json`` (profile, overrides).

    Returns:
        The content of ``metrics.json``: ``dev`` (at the best epoch) and ``test`` metrics,
        ``best_epoch``, ``epochs``, ``train_seconds``, ``n_params``, ``selection_metric``.

    Raises:
        NonFiniteLossError: when the training loss becomes NaN or infinite.
        ValueError: on a resume whose checkpoint was trained with another config.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    train = train or TrainConfig()
    read_manifest_fn, load_prepared, _ = _data_api()
    manifest = read_manifest_fn(dataset_dir)
    dataset = _check_dataset(manifest, dataset, dataset_dir)
    task, metric = manifest["task"], selection_metric(dataset)
    code, extras = resolve_modalities(manifest, modalities)
    model_kwargs = {**model_inputs(manifest, dataset, extras), **(model_overrides or {})}
    label_names = _label_names(manifest)
    device = pick_device(device)
    paths = {name: out_dir / name for name in ("checkpoint.pt", "best.pt", "metrics.json", "history.csv",
                                              "predictions.npz", "analysis.npz", "config.json")}

    previous = ckpt.load_checkpoint(paths["checkpoint.pt"]) if resume and paths["checkpoint.pt"].is_file() else None
    if previous is None:  # a fresh start: stale artifacts of another run must not survive
        for path in paths.values():
            path.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob(".*.tmp"):  # temporary files of a killed process's atomic writes
        leftover.unlink(missing_ok=True)

    with deterministic_algorithms(train.deterministic, device), cpu_threads(train.cpu_threads, device):
        seed_everything(seed)
        device_text = describe_device(device)
        model, model_config = (model_factory or registry_model)(variant, model_kwargs)
        model.to(device)
        config = {"dataset": dataset, "variant": variant, "seed": seed, "modalities": code,
                  "selection_metric": metric, "model": model_config, "train": train.to_dict()}
        config = json.loads(_canonical(config))
        if previous is not None and _canonical(previous["config"]) != _canonical(config):
            raise ValueError(f"{paths['checkpoint.pt']}: trained with another config; rerun without --resume "
                             f"or use another --out.\n  checkpoint: {_canonical(previous['config'])}\n  now:        "
                             f"{_canonical(config)}")
        if previous is not None and previous["finished"] and paths["metrics.json"].is_file():
            return json.loads(paths["metrics.json"].read_text())

        splits = {s: load_prepared(dataset_dir, s) for s in SPLITS}
        loss_fn = _make_loss(task, dataset_dir, train).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", patience=train.lr_patience, factor=train.lr_factor)
        eval_batch = train.eval_batch_size or train.batch_size
        dev_loader = _loader(splits["dev"], eval_batch, shuffle_seed=None, num_workers=train.num_workers)

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
            train_loader = _loader(splits["train"], train.batch_size, num_workers=train.num_workers,
                                   shuffle_seed=_epoch_shuffle_seed(seed, epoch))
            stats = train_one_epoch(model, train_loader, loss_fn, optimizer, device=device, epoch=epoch,
                                    grad_accum=train.grad_accum, clip=train.clip, amp=train.amp, progress=progress)
            dev = evaluate(model, dev_loader, loss_fn, dataset=dataset, task=task, device=device,
                           amp=train.amp, label_names=label_names)
            score = dev[metric] if math.isfinite(dev[metric]) else -math.inf  # NaN never "improves"
            scheduler.step(score)
            if state["best_epoch"] is None or score > state["best_metric"]:
                state.update(best_metric=score, best_epoch=epoch, bad_epochs=0)
                ckpt.save_weights(paths["best.pt"], model, epoch=epoch, metric=score, config=config)
            else:
                state["bad_epochs"] += 1
            state["history"].append({"epoch": epoch, "train_loss": stats["train_loss"], "dev_loss": dev["loss"],
                                     **{f"dev_{k}": v for k, v in dev.items() if k != "loss"}, "lr": lr})
            state["epoch"] = epoch
            state["finished"] = state["bad_epochs"] >= train.patience or epoch >= train.max_epochs
            state["train_seconds"] += time.perf_counter() - started
            ckpt.save_checkpoint(paths["checkpoint.pt"], model=model, optimizer=optimizer, scheduler=scheduler,
                                 config=config, **state)
            ckpt.atomic_write_text(paths["history.csv"], _history_csv(state["history"]))
            if progress:
                tqdm.write(f"{dataset}/{variant} seed {seed} epoch {epoch}: train loss {stats['train_loss']:.4f}, "
                           f"dev loss {dev['loss']:.4f}, dev {metric} {dev[metric]:.2f}, lr {lr:.2e}")

        # test the best epoch's weights
        model.load_state_dict(ckpt.load_checkpoint(paths["best.pt"], map_location=device)["model"])
        test_loader = _loader(splits["test"], eval_batch, shuffle_seed=None, num_workers=train.num_workers)
        out = predict(model, test_loader, loss_fn, task=task, device=device, amp=train.amp, return_analysis=True)
    test = {"loss": out["loss"], **M.compute_metrics(dataset, out["labels"], out["probs"], label_names)}
    best_row = state["history"][state["best_epoch"] - 1]
    dev = {"loss": best_row["dev_loss"], **{k[4:]: v for k, v in best_row.items()
                                            if k.startswith("dev_") and k != "dev_loss"}}
    result = {"dev": dev, "test": test, "best_epoch": state["best_epoch"], "epochs": state["epoch"],
              "train_seconds": round(state["train_seconds"], 3),
              "n_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "selection_metric": metric}
    _write_outputs(paths, out, dataset_dir, model, manifest, config, device_text, run_info)
    ckpt.atomic_write_json(paths["metrics.json"], result)
    return json.loads(paths["metrics.json"].read_text())  # exactly what is on disk (NaN → None)


def _check_dataset(manifest: dict[str, Any], dataset: str | None, dataset_dir: Path) -> str:
    name = manifest.get("dataset")
    if dataset is not None and name is not None and dataset != name:
        raise ValueError(f"{dataset_dir}/manifest.json: 'dataset' is {name!r}, but training was asked for {dataset!r}")
    dataset = dataset or name
    if dataset is None:
        raise ValueError(f"{dataset_dir}/manifest.json: no 'dataset' key; pass the dataset name")
    return dataset


def _make_loss(task: str, dataset_dir: Path, train: TrainConfig) -> TaskLoss:
    if task != "multilabel" or not train.weight_classes:
        return TaskLoss(task)
    return TaskLoss(task, pos_weight(np.load(dataset_dir / "train" / "label.npy")))


def _write_outputs(paths: dict[str, Path], out: dict[str, Any], dataset_dir: Path, model: nn.Module,
                   manifest: dict[str, Any], config: dict[str, Any], device_text: str,
                   run_info: dict[str, Any] | None) -> None:
    ids = json.loads((dataset_dir / "test" / "ids.json").read_text())
    if len(ids) != len(out["labels"]):
        raise ValueError(f"{dataset_dir}/test/ids.json: {len(ids)} ids for {len(out['labels'])} test rows")
    ckpt.atomic_savez(paths["predictions.npz"], {
        "probs": out["probs"].astype(np.float32), "labels": out["labels"],
        "ids": np.asarray([str(i) for i in ids], dtype=str),
        "label_names": np.asarray(manifest["label_names"], dtype=str)})
    analysis = out["analysis"]
    arrays = {f"{kind}/{name}": value for kind in ("gates", "tokens") for name, value in analysis[kind].items()}
    arrays["final_inputs"] = np.asarray(list(getattr(model, "final_inputs", []) or []), dtype=str)
    ckpt.atomic_savez(paths["analysis.npz"], arrays)
    ckpt.atomic_write_json(paths["config.json"], {
        **config, **(run_info or {}), "data": {
            "dir": str(dataset_dir), "synthetic": manifest.get("synthetic"),
            "text_encoder": manifest.get("text_encoder"), "splits": manifest.get("splits")},
        "versions": versions(), "device": device_text})


# ----------------------------------------------------------------------------- seeds
def _stats(values: list[float]) -> dict[str, Any]:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(finite, ddof=1)) if n > 1 else 0.0  # sample std; one seed: 0, with n = 1
    return {"mean": float(np.mean(finite)), "std": std, "n": n}


def summarize(run_dir: str | Path, seeds: Iterable[int] | None = None) -> dict[str, Any]:
    """Mean, sample std and n over seeds of every dev and test metric; writes ``run_dir/summary.json``.

    Args:
        run_dir: a run folder holding ``seed_<s>/metrics.json``.
        seeds: the seeds to include; default every ``seed_<s>`` folder with a ``metrics.json``.

    Raises:
        FileNotFoundError: when a requested seed (or any seed) has no ``metrics.json``.
    """
    run_dir = Path(run_dir)
    if seeds is None:
        found = [p for p in run_dir.glob("seed_*/metrics.json") if p.parent.name[5:].isdigit()]
        seeds = sorted(int(p.parent.name[5:]) for p in found)
        if not seeds:
            raise FileNotFoundError(f"{run_dir}: no seed_<s>/metrics.json; train first")
    seeds = list(seeds)
    per_seed = {}
    for seed in seeds:
        path = run_dir / f"seed_{seed}" / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; train seed {seed} first")
        per_seed[seed] = json.loads(path.read_text())
    summary: dict[str, Any] = {"seeds": seeds, "n_seeds": len(seeds)}
    first = per_seed[seeds[0]]
    summary["selection_metric"] = first.get("selection_metric")
    for split in ("dev", "test"):
        keys = list(dict.fromkeys(k for m in per_seed.values() for k in m.get(split, {})))
        summary[split] = {k: _stats([m.get(split, {}).get(k) for m in per_seed.values()]) for k in keys}
    summary["run"] = {k: _stats([m.get(k) for m in per_seed.values()])
                      for k in ("best_epoch", "epochs", "train_seconds", "n_params")}
    config_path = run_dir / f"seed_{seeds[0]}" / "config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        summary.update({k: config.get(k) for k in ("dataset", "variant", "modalities", "profile")})
    ckpt.atomic_write_json(run_dir / "summary.json", summary)
    return json.loads((run_dir / "summary.json").read_text())


def train_seeds(dataset_dir: str | Path, variant: str, out_dir: str | Path,
                seeds: Iterable[int] | str | None = None, profile: str | None = None,
                overrides: Iterable[str] = (), resume: bool = False, *,
                params: dict[str, Any] | None = None, params_path: str | Path | None = None,
                dataset: str | None = None, modalities: str | None = None, progress: bool = True,
                device: str | torch.device | None = None,
                model_factory: ModelFactory | None = None) -> dict[str, Any]:
    """Train ``variant`` on a prepared dataset for each seed, under a profile; return the summary.

    Args:
        dataset_dir: the prepared data.
        variant: model variant name.
        out_dir: the run folder (``RUN``); seeds go to ``RUN/seed_<s>``.
        seeds: the seeds (list, ``"1-5"`` or ``"1,3"``); default the profile's.
        profile: the profile of the params file; default its ``profile`` key.
        overrides: ``--set key=value`` strings.
        resume: continue interrupted seeds and keep finished ones (see :func:`train_run`).
        params: the params mapping; default :func:`bpmult.profiles.load_params` of ``params_path``.
        dataset: the dataset name; default the manifest's.
        modalities: ``TVAP`` / ``TVAPM``.

    Returns:
        The summary written to ``RUN/summary.json``.
    """
    manifest = read_manifest(dataset_dir)
    dataset = _check_dataset(manifest, dataset, Path(dataset_dir))
    params = params if params is not None else load_params(params_path)
    resolved = resolve(params, dataset, variant, profile=profile, overrides=overrides)
    seeds = resolved.seeds if seeds is None else parse_seeds(seeds)
    run_info = {"profile": resolved.profile, "overrides": list(resolved.overrides)}
    for seed in seeds:
        train_run(dataset_dir, variant, Path(out_dir) / f"seed_{seed}", seed,
                  model_overrides=resolved.model_overrides, train=resolved.train, dataset=dataset,
                  modalities=modalities, resume=resume, progress=progress, device=device,
                  model_factory=model_factory, run_info=run_info)
    return summarize(out_dir, seeds)
