"""Our results as the report reads them: run names, run summaries and per-seed values.

A run folder (``docs/design.md`` §3) holds ``summary.json`` and ``seed_<s>/metrics.json``. The
committed results (``metrics/runs/<run>.json``) are copies of the summaries, so every reader here
accepts either layout: ``<root>/<run>/summary.json`` or ``<root>/<run>.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def run_name(dataset: str, model: str, modalities: str | None = None) -> str:
    """Name of the run directory of a (dataset, variant[, modality setting]).

    The TVAPM setting of Moviescope (poster + metadata) is a separate run; TVAP is the default.
    """
    suffix = "-tvapm" if (modalities or "").upper() == "TVAPM" else ""
    return f"{dataset}-{model}{suffix}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); rerun the run's training stage") from err


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a run: ``run_dir/summary.json`` or ``run_dir.json``; None when neither exists."""
    run_dir = Path(run_dir)
    for path in (run_dir / "summary.json", run_dir.with_name(run_dir.name + ".json")):
        if path.is_file():
            return _read_json(path)
    return None


def summary_stat(summary: dict[str, Any] | None, key: str,
                 split: str = "test") -> tuple[float | None, float | None, int]:
    """(mean, std, n seeds) of a metric in a run summary; (None, None, 0) when absent."""
    if summary is None:
        return None, None, 0
    entry = summary.get(split, {}).get(key)
    if entry is None:
        return None, None, 0
    mean = entry.get("mean")
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return None, None, int(entry.get("n", 0))
    return float(mean), float(entry.get("std") or 0.0), int(entry.get("n", 0))


def seed_dirs(run_dir: Path) -> list[Path]:
    """The ``seed_<s>`` folders of a run, by seed number."""
    return sorted(Path(run_dir).glob("seed_*"), key=lambda p: int(p.name.split("_")[1]))


def first_seed_dir(run_dir: Path) -> Path:
    """The lowest-numbered ``seed_<s>`` directory of a run (the figures show one trained model)."""
    seeds = seed_dirs(run_dir)
    if not seeds:
        raise FileNotFoundError(f"{run_dir}: no seed_* directory; train this run first")
    return seeds[0]


def seed_values(run_dir: Path, key: str, split: str = "test") -> list[float] | None:
    """The metric of every seed (``seed_<s>/metrics.json``); None when the run has no seed folder."""
    seeds = seed_dirs(run_dir)
    if not seeds:
        return None
    values = []
    for seed in seeds:
        path = seed / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; every trained seed writes it")
        value = _read_json(path).get(split, {}).get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values.append(float(value))
    return values
