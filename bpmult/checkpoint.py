"""Checkpoints that lose nothing, and atomic writes of every run artifact.

A checkpoint holds everything the next epoch depends on: model weights, optimizer and scheduler
state, the epoch, the best dev metric and its epoch, the early-stop counter, the history, the
resolved config and the RNG states (python, numpy, torch CPU and CUDA). Resuming from it therefore
continues the *same* run: on CPU the final metrics are bit-identical to an uninterrupted run.

Everything is stored as tensors and plain Python types so that it loads with
``torch.load(..., weights_only=True)``, which executes no pickled code. Writes go to a temporary
file in the same folder, are fsync-ed and then renamed over the target (``os.replace``), so a
process killed at any moment leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bpmult.atomic import atomic_write, atomic_write_bytes, atomic_write_text  # noqa: F401

CHECKPOINT_FORMAT = 1  # bump when the layout below changes


# ----------------------------------------------------------------------------- atomic writes
# (bpmult.atomic; re-exported here for the run artifacts)


def to_jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become ``None`` (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, strict JSON (NaN → null) atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def atomic_savez(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write a ``.npz`` archive atomically (readable with ``allow_pickle=False``)."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise ValueError(f"{path}: array {name!r} has dtype object; store numbers or strings")
    return atomic_write(path, lambda handle: np.savez(handle, **arrays))


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` atomically."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


# ----------------------------------------------------------------------------- RNG states
def rng_state() -> dict[str, Any]:
    """The state of every RNG training uses, in ``weights_only``-loadable types."""
    py_version, py_internal, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": py_version, "internal": list(py_internal), "gauss_next": py_gauss},
        "numpy": {"name": np_name, "keys": [int(k) for k in np_keys], "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], np.asarray(npy["keys"], dtype=np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, epoch: int, best_metric: float, best_epoch: int | None,
                    bad_epochs: int, history: list[dict[str, float]], config: dict[str, Any],
                    train_seconds: float, finished: bool) -> Path:
    """Write the full training state after ``epoch`` (1-based) to ``path`` atomically.

    Args:
        best_metric: best dev selection metric so far (``-inf`` before any).
        best_epoch: the epoch that reached it, or None.
        bad_epochs: epochs since the last improvement (the early-stop counter).
        history: one dict of numbers per finished epoch.
        config: the resolved run config (plain types).
        train_seconds: training wall time so far, summed over resumes.
        finished: True once training has stopped (early stop or ``max_epochs``).
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": int(epoch),
        "best_metric": float(best_metric),
        "best_epoch": best_epoch,
        "bad_epochs": int(bad_epochs),
        "history": [dict(row) for row in history],
        "config": config,
        "train_seconds": float(train_seconds),
        "finished": bool(finished),
        "rng": rng_state(),
    }
    return atomic_torch_save(path, state)


def save_weights(path: str | Path, model: torch.nn.Module, *, epoch: int, metric: float,
                 config: dict[str, Any]) -> Path:
    """Write the model weights alone (the best epoch's), with the epoch, metric and config."""
    return atomic_torch_save(path, {"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                                    "epoch": int(epoch), "metric": float(metric), "config": config})


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint or weights file written by this module (``weights_only=True``).

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint there")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path}: not a bpmult checkpoint of format {CHECKPOINT_FORMAT} (found {found!r})")
    return state
