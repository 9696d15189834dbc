"""TrainConfig: every knob of the training loop, in one frozen dataclass.

Defaults follow the authors' BPMuLT training code (peer-code notes §3.8): Adam without weight
decay, ReduceLROnPlateau(max, patience 2, factor 0.5) on the dev selection metric, early stopping,
gradient accumulation, BCE with ``pos_weight = N / freq`` and no gradient clipping. The per-dataset
values of the paper and embedded profiles live in ``params.yaml`` (see ``bpmult.experiment.params``).

What is *not* here, on purpose: the selection metric (fixed per dataset, ``bpmult.train.metrics``), the
device (picked at run time: CUDA, else CPU) and the progress bar (display only). None of them may
change a result on a given device, so none of them belong to the config saved with a run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

LR_MODES = ("max", "min_loss")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes:
        batch_size: samples per forward pass (micro-batch).
        grad_accum: micro-batches whose gradients are summed before one optimizer step; the
            effective batch is ``batch_size * grad_accum`` (the authors' 8 × 8).
        lr: Adam learning rate.
        max_epochs: upper bound on training epochs.
        patience: early stopping: stop after this many epochs without a better dev selection
            metric (the authors' ``--patience``).
        lr_patience: ReduceLROnPlateau patience in epochs (the authors' ``--lr_patience``).
        lr_factor: ReduceLROnPlateau factor (the authors' ``--lr_factor``).
        clip: max gradient norm, or None for no clipping (BPMuLT: none; MuLT: 0.8 / 1.0).
        weight_classes: multi-label sets only: BCE ``pos_weight = N / freq`` per class from the
            train labels (the authors' ``--weight_classes 1``); False for an unweighted BCE.
        eval_batch_size: batch size of dev/test passes; None means ``batch_size``.
        amp: bf16 autocast on CUDA (ignored on CPU, where training is float32).
        deterministic: on CUDA, ``torch.use_deterministic_algorithms`` (warn-only), deterministic
            cuDNN and cuBLAS (CPU kernels are deterministic already).
        num_workers: DataLoader workers (0: load in the main process; the data is in memory).
        cpu_threads: torch intra-op threads when training on the CPU; None keeps torch's default
            (one per core). Small models run fastest on 1 thread, and a fixed count also fixes the
            order of float sums, so CPU results do not depend on the machine's core count.
        encoder_lr: learning rate of a text encoder trained inside the model (BERT fine-tuning;
            the authors: 5e-5 like the rest); None means ``lr``.
        lr_mode: what ReduceLROnPlateau watches: ``"max"`` the dev selection metric (the authors'
            BPMuLT) or ``"min_loss"`` the dev loss (official MuLT's ``mode='min'`` on valid loss).
        early_stop_ties: a dev score equal to the best counts as an improvement (the authors'
            ``>=``); False needs a strictly better score.
        improve_tol: a score must beat the best by more than this (percentage points) to count as
            better (with ``early_stop_ties``: may fall short of it by up to this). 0 is exact
            comparison; a small value keeps ~1e-8 float differences between machines from
            flipping which epoch is selected.
    """

    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    max_epochs: int = 100
    patience: int = 6
    lr_patience: int = 2
    lr_factor: float = 0.5
    clip: float | None = None
    weight_classes: bool = True
    eval_batch_size: int | None = None
    amp: bool = True
    deterministic: bool = True
    num_workers: int = 0
    cpu_threads: int | None = None
    encoder_lr: float | None = None
    lr_mode: str = "max"
    early_stop_ties: bool = False
    improve_tol: float = 0.0

    def __post_init__(self) -> None:
        positive = {"batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "max_epochs": self.max_epochs, "patience": self.patience}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1; got {value!r}")
        if not isinstance(self.lr_patience, int) or self.lr_patience < 0:
            raise ValueError(f"TrainConfig.lr_patience must be an integer >= 0; got {self.lr_patience!r}")
        for name in ("lr", "encoder_lr"):
            value = getattr(self, name)
            if name == "encoder_lr" and value is None:
                continue
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise ValueError(f"TrainConfig.{name} must be a positive finite number; got {value!r}")
        if not (_is_number(self.lr_factor) and 0 < self.lr_factor < 1):
            raise ValueError(f"TrainConfig.lr_factor must be in (0, 1); got {self.lr_factor!r}")
        if self.clip is not None and not (_is_number(self.clip) and math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"TrainConfig.clip must be None or a positive finite number; got {self.clip!r}")
        if not (_is_number(self.improve_tol) and math.isfinite(self.improve_tol) and self.improve_tol >= 0):
            raise ValueError(f"TrainConfig.improve_tol must be a finite number >= 0; got {self.improve_tol!r}")
        if self.lr_mode not in LR_MODES:
            raise ValueError(f"TrainConfig.lr_mode must be one of {list(LR_MODES)}; got {self.lr_mode!r}")
        if self.eval_batch_size is not None and (not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 1):
            raise ValueError(f"TrainConfig.eval_batch_size must be None or an integer >= 1; got {self.eval_batch_size!r}")
        if self.cpu_threads is not None and (not isinstance(self.cpu_threads, int) or self.cpu_threads < 1):
            raise ValueError(f"TrainConfig.cpu_threads must be None or an integer >= 1; got {self.cpu_threads!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be an integer >= 0; got {self.num_workers!r}")
        for name in ("weight_classes", "amp", "deterministic", "early_stop_ties"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} must be true or false; got {getattr(self, name)!r}")

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all fields, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """Build a config from a mapping, rejecting unknown keys.

        Integers given for float fields (``lr: 1``) are accepted as floats.

        Raises:
            ValueError: naming an unknown key and the valid ones, or an invalid value.
        """
        valid = cls.field_names()
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown train setting(s) {unknown}; valid: {valid}")
        kwargs = dict(values)
        for name in ("lr", "lr_factor", "clip", "encoder_lr", "improve_tol"):
            if isinstance(kwargs.get(name), int) and not isinstance(kwargs.get(name), bool):
                kwargs[name] = float(kwargs[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON and ``torch.load(weights_only=True)`` safe)."""
        return dataclasses.asdict(self)
