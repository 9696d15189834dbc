"""One epoch of training and one pass of inference: the inner loops of the engine.

The loops know a model only through ``model(batch) -> logits`` and
``model(batch, return_analysis=True) -> (logits, analysis)`` (docs/design.md §2); batches are dicts
of tensors with the targets under ``label``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, TextIO

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from bpmult.train.losses import probabilities
from bpmult.train.runtime import autocast


def progress_stream(progress: bool | TextIO) -> TextIO | None:
    """Where progress goes: a given stream (the pipeline passes its terminal), else tqdm's stderr."""
    return None if isinstance(progress, bool) else progress


def bar_enabled(progress: bool | TextIO) -> bool:
    """A bar redraws a line in place: only on a terminal (or a notebook) of its own; a log file or
    a pipe gets the epoch lines alone."""
    if isinstance(progress, bool):
        return progress
    return bool(getattr(progress, "isatty", lambda: False)())


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stops rather than train on garbage."""


def loader_settings(train: Any, device: torch.device) -> dict[str, Any]:
    """DataLoader settings of a run: ``train.num_workers`` worker processes, and pinned (page-locked)
    host memory on CUDA so batches copy to the GPU asynchronously (issue 9.8)."""
    return {"num_workers": train.num_workers, "pin_memory": device.type == "cuda"}


def make_loader(dataset: Dataset, batch_size: int, *, collate: Callable, shuffle_seed: int | None = None,
                num_workers: int = 0, pin_memory: bool = False, sampler: Any = None) -> DataLoader:
    """A DataLoader whose shuffle is fixed by ``shuffle_seed`` alone (None: no shuffle).

    An explicit generator, seeded per (seed, epoch), makes the order of every epoch reproducible on
    its own, so a resumed run sees the same batches as an uninterrupted one.
    """
    generator = torch.Generator().manual_seed(0 if shuffle_seed is None else shuffle_seed)
    shuffle = shuffle_seed is not None and sampler is None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, generator=generator,
                      collate_fn=collate, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=False)


class ShardedShuffle(Sampler[int]):
    """This process's share of the single-process shuffle: its order, every ``world``-th sample.

    Under ``torchrun`` the global batch ``k`` of ``world`` processes with micro-batch ``b`` then holds
    exactly the samples of batch ``k`` of one process with micro-batch ``world * b``, so both runs
    follow the same trajectory (``DistributedSampler`` draws another permutation). The last samples
    are repeated to give every process the same number of batches, as ``DistributedSampler`` does.
    """

    def __init__(self, n: int, *, seed: int, rank: int, world: int):
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.per_rank = -(-n // world)

    def __iter__(self) -> Iterator[int]:
        # the order a single-process loader yields (its iterator also draws from the generator first),
        # taken from a real DataLoader so that it stays exact across torch versions
        single = DataLoader(range(self.n), batch_size=self.n, shuffle=True,
                            generator=torch.Generator().manual_seed(self.seed))
        order = next(iter(single)).tolist()
        order += order[: self.per_rank * self.world - self.n]
        return iter(order[self.rank::self.world])

    def __len__(self) -> int:
        return self.per_rank


def epoch_shuffle_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of ``epoch`` (1-based) of run ``seed``."""
    return seed * 1_000_003 + epoch


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train_one_epoch(model: nn.Module, loader: DataLoader, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, *, device: torch.device, epoch: int,
                    grad_accum: int = 1, clip: float | None = None, amp: bool = True,
                    progress: bool | TextIO = True) -> dict[str, float]:
    """One pass over ``loader`` with gradient accumulation.

    The gradients of ``grad_accum`` consecutive micro-batches are summed, each micro-batch loss
    scaled by 1 / (micro-batches in its group), then one optimizer step is taken; a shorter last
    group at the end of the epoch is stepped too, so no gradient crosses an epoch boundary. Under
    ``DistributedDataParallel`` the gradient all-reduce runs only on the group's last micro-batch
    (``no_sync`` on the others).

    Returns:
        ``train_loss`` (mean over this process's samples) and ``steps`` (optimizer steps taken).

    Raises:
        NonFiniteLossError: naming the epoch and the batch where the loss became NaN or infinite.
    """
    model.train()
    n_batches = len(loader)
    total, seen, steps = 0.0, 0, 0
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not bar_enabled(progress), dynamic_ncols=True,
               file=progress_stream(progress))
    for index, batch in enumerate(bar):
        batch = to_device(batch, device)
        labels = batch.pop("label")
        group_start = index - index % grad_accum
        group_size = min(grad_accum, n_batches - group_start)
        stepping = index + 1 == group_start + group_size
        no_sync = isinstance(model, DistributedDataParallel) and not stepping
        with model.no_sync() if no_sync else contextlib.nullcontext():
            with autocast(device, amp):
                logits = model(batch)
            loss = loss_fn(logits, labels)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"non-finite training loss ({loss.item()}) at epoch {epoch}, step {index + 1} of {n_batches} "
                    f"(optimizer step {steps + 1}); lower train.lr or set train.clip")
            (loss / group_size).backward()
        if stepping:
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
        total += loss.item() * labels.shape[0]
        seen += labels.shape[0]
        bar.set_postfix(loss=f"{total / seen:.4f}")
    if isinstance(model, DistributedDataParallel):  # the mean over every process's samples
        sums = torch.tensor([total, float(seen)], dtype=torch.float64, device=device)
        dist.all_reduce(sums)
        total, seen = float(sums[0]), int(sums[1])
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
        batch = to_device(batch, device)
        target = batch.pop("label")
        with autocast(device, amp):
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


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, *, task: str,
             metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]], device: torch.device,
             amp: bool = True) -> dict[str, float]:
    """The loss and ``metrics(labels, probs)`` on ``loader``."""
    out = predict(model, loader, loss_fn, task=task, device=device, amp=amp)
    return {"loss": out["loss"], **metrics(out["labels"], out["probs"])}
