"""TrainConfig: every knob of the training loop, in one frozen dataclass.

Defaults follow the authors' BPMuLT training code (peer-code notes §3.8): Adam without weight
decay, ReduceLROnPlateau(max, patience 2, factor 0.5) on the dev selection metric, early stopping,
gradient accumulation, BCE with ``pos_weight = N / freq`` and no gradient clipping. The per-dataset
values of the paper and embedded profiles live in ``params.yaml`` (see ``bpmult.profiles``).

What is *not* here, on purpose: the selection metric (fixed per dataset, ``bpmult.metrics``), the
device (picked at run time: CUDA, else CPU) and the progress bar (display only). None of them may
change a result on a given device, so none of them belong to the config saved with a run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping


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

    def __post_init__(self) -> None:
        positive = {"batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "max_epochs": self.max_epochs, "patience": self.patience}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1; got {value!r}")
        if not isinstance(self.lr_patience, int) or self.lr_patience < 0:
            raise ValueError(f"TrainConfig.lr_patience must be an integer >= 0; got {self.lr_patience!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr must be a positive number; got {self.lr!r}")
        if not (isinstance(self.lr_factor, (int, float)) and 0 < self.lr_factor < 1):
            raise ValueError(f"TrainConfig.lr_factor must be in (0, 1); got {self.lr_factor!r}")
        if self.clip is not None and not (isinstance(self.clip, (int, float)) and self.clip > 0):
            raise ValueError(f"TrainConfig.clip must be None or a positive number; got {self.clip!r}")
        if self.eval_batch_size is not None and (not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 1):
            raise ValueError(f"TrainConfig.eval_batch_size must be None or an integer >= 1; got {self.eval_batch_size!r}")
        if self.cpu_threads is not None and (not isinstance(self.cpu_threads, int) or self.cpu_threads < 1):
            raise ValueError(f"TrainConfig.cpu_threads must be None or an integer >= 1; got {self.cpu_threads!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be an integer >= 0; got {self.num_workers!r}")
        for name in ("weight_classes", "amp", "deterministic"):
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
        for name in ("lr", "lr_factor", "clip"):
            if isinstance(kwargs.get(name), int) and not isinstance(kwargs.get(name), bool):
                kwargs[name] = float(kwargs[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON and ``torch.load(weights_only=True)`` safe)."""
        return dataclasses.asdict(self)
