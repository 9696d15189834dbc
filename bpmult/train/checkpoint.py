"""Checkpoints that lose nothing and cannot be trusted by accident.

A checkpoint holds everything the next epoch depends on: model weights, optimizer and scheduler
state, the epoch, the best dev metric and its epoch, the early-stop counter, the history, the
resolved config and the RNG states (python, numpy, torch CPU and CUDA). Resuming from it therefore
continues the *same* run: on CPU the final metrics are bit-identical to an uninterrupted run.

Everything is stored as tensors and plain Python types so that it loads with
``torch.load(..., weights_only=True)``, which executes no pickled code. Writes go to a temporary
file in the same folder, are fsync-ed and then renamed over the target (``os.replace``), so a
process killed at any moment leaves either the old or the new file, never a torn one.

Each checkpoint has a digest file beside it (``checkpoint.pt.sha256``) listing the SHA-256 values
its bytes may have; a file whose bytes match none of them (a flipped bit, a truncated copy) is
refused with its path instead of silently resuming a different run. The digest file is rewritten
*before* the rename (listing the old and the new value) and again after it (the new value alone), so
a kill at any moment leaves a pair that verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bpmult.atomic import atomic_write_text

CHECKPOINT_FORMAT = 1  # bump when the layout below changes
DIGEST_SUFFIX = ".sha256"  # beside every checkpoint: the SHA-256 values its bytes may have


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


def save_finished(path: str | Path, *, config: dict[str, Any], epoch: int, best_metric: float,
                  best_epoch: int | None, bad_epochs: int, history: list[dict[str, float]],
                  train_seconds: float, lr: float) -> Path:
    """Replace a finished seed's checkpoint by its record alone: no weights, no optimizer state.

    Once ``metrics.json`` is written the full state is never needed again (``best.pt`` keeps the
    weights the results came from); at paper size the Adam state is two thirds of the checkpoint.
    """
    return save_verified(path, {
        "format": CHECKPOINT_FORMAT, "model": {}, "optimizer": {}, "scheduler": {}, "epoch": int(epoch),
        "best_metric": float(best_metric), "best_epoch": best_epoch, "bad_epochs": int(bad_epochs),
        "history": [dict(row) for row in history], "config": config, "train_seconds": float(train_seconds),
        "finished": True, "slim": True, "lr": float(lr), "rng": {}})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def _allowed_digests(path: Path) -> list[str]:
    sidecar = _digest_path(path)
    try:
        values = json.loads(sidecar.read_text())["sha256"]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{sidecar}: unreadable checkpoint digest file ({err}); delete {path} and it to "
                         f"start this seed over") from None
    return [str(v) for v in values]


def save_verified(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically, with its digest file (see the module notes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        new = file_sha256(Path(tmp))
        old = _allowed_digests(path) if path.exists() else []
        atomic_write_text(_digest_path(path), json.dumps({"sha256": [new, *old[:1]]}) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_text(_digest_path(path), json.dumps({"sha256": [new]}) + "\n")
    return path


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """Kept name: every checkpoint write is verified (:func:`save_verified`)."""
    return save_verified(path, obj)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint or weights file written by this module (``weights_only=True``).

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint there")
    allowed = _allowed_digests(path)
    if not allowed:
        raise ValueError(f"{path}: no digest file {_digest_path(path).name} beside it, so it cannot be verified; "
                         f"delete the seed's folder to train it again")
    if file_sha256(path) not in allowed:
        raise ValueError(f"{path}: corrupt (its SHA-256 matches none in {_digest_path(path).name}); "
                         f"delete the seed's folder to train it again")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot be read as a bpmult checkpoint ({reason[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path}: not a bpmult checkpoint of format {CHECKPOINT_FORMAT} (found {found!r})")
    return state
