"""The files a run leaves (docs/design.md §3), written atomically, and the summary over seeds.

    RUN/seed_<s>/metrics.json history.csv predictions.npz analysis.npz config.json
                 checkpoint.pt (+ .sha256; weights and optimizer until the seed finishes)
                 best.pt (+ .sha256; the best epoch's weights)
    RUN/summary.json               mean / std / n over seeds of every dev and test metric
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from torch import nn

from bpmult.atomic import atomic_write, atomic_write_text


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


def read_json(path: Path) -> Any:
    """A JSON file, or a one-line error naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def history_csv(history: list[dict[str, float]]) -> str:
    """One row per epoch, in the order of the first row's keys."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def write_predictions(path: Path, out: dict[str, Any], ids: list[Any], label_names: list[str]) -> None:
    """``probs``, ``labels``, ``ids`` and ``label_names`` of the test split."""
    if len(ids) != len(out["labels"]):
        raise ValueError(f"{path}: {len(ids)} test ids for {len(out['labels'])} test rows")
    atomic_savez(path, {"probs": out["probs"].astype(np.float32), "labels": out["labels"],
                        "ids": np.asarray([str(i) for i in ids], dtype=str),
                        "label_names": np.asarray(label_names, dtype=str)})


def write_analysis(path: Path, analysis: dict[str, dict[str, np.ndarray]], model: nn.Module) -> None:
    """Every gate and token of the test split, and the names of the final GMU's inputs."""
    arrays = {f"{kind}/{name}": value for kind in ("gates", "tokens") for name, value in analysis[kind].items()}
    arrays["final_inputs"] = np.asarray(list(getattr(model, "final_inputs", []) or []), dtype=str)
    atomic_savez(path, arrays)


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
        per_seed[seed] = read_json(path)
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
        config = read_json(config_path)
        summary.update({k: config.get(k) for k in ("dataset", "variant", "modalities", "profile")})
    atomic_write_json(run_dir / "summary.json", summary)
    return read_json(run_dir / "summary.json")
