"""Which seeds keep their best weights once a run has finished every seed (issue 9, point 5: disk).

A seed's ``best.pt`` is only needed to reload that model (``bpmult evaluate``/``predict``,
``load_trained``); the report reads ``metrics.json``, ``predictions.npz`` and ``analysis.npz``.
At the paper's sizes a Moviescope BPMuLT ``best.pt`` is 2.8 GB, and 26 runs x 5 seeds keep 247 GB
of them (``bpmult plan``). A profile's ``keep_weights``:

* ``all`` (default): every seed keeps ``best.pt``;
* ``best_seed``: when the last seed has finished, only the seed with the best dev selection metric
  (ties: the lowest seed) keeps it; ``RUN/weights.json`` says which seed and which were removed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

from bpmult.train.artifacts import atomic_write_json, read_json
from bpmult.train.checkpoint import DIGEST_SUFFIX

KEEP_WEIGHTS = ("all", "best_seed")
RECORD = "weights.json"


def check_policy(value: Any, where: str) -> str:
    """``value`` as a keep_weights policy, or a one-line error naming ``where``."""
    if value not in KEEP_WEIGHTS:
        raise ValueError(f"{where}: expected one of {list(KEEP_WEIGHTS)}, found {value!r}")
    return value


def _dev_score(run_dir: Path, seed: int, metric: str) -> float:
    value = read_json(run_dir / f"seed_{seed}" / "metrics.json")["dev"].get(metric)
    return float(value) if value is not None and math.isfinite(float(value)) else -math.inf


def apply_policy(run_dir: str | Path, seeds: Iterable[int], policy: str, metric: str) -> dict[str, Any] | None:
    """Remove the best weights ``policy`` does not keep; returns the record written (None for ``all``).

    Called after every seed of the run finished (each has ``metrics.json``). Rerunning it is a
    no-op; a seed whose weights were removed earlier stays recorded as removed.
    """
    run_dir, seeds = Path(run_dir), sorted(set(seeds))
    if check_policy(policy, f"{run_dir}: keep_weights") == "all":
        return None
    scores = {seed: _dev_score(run_dir, seed, metric) for seed in seeds}
    kept = max(seeds, key=lambda s: (scores[s], -s))
    previous = read_json(run_dir / RECORD) if (run_dir / RECORD).is_file() else {}
    if not (run_dir / f"seed_{kept}" / "best.pt").is_file():
        raise FileNotFoundError(f"{run_dir / f'seed_{kept}' / 'best.pt'}: missing; keep_weights: best_seed needs the "
                                f"best seed's weights (its best.pt was removed earlier); retrain that seed")
    removed = set(previous.get("removed", []))
    for seed in seeds:
        best = run_dir / f"seed_{seed}" / "best.pt"
        if seed != kept and best.is_file():
            best.unlink()
            best.with_name(best.name + DIGEST_SUFFIX).unlink(missing_ok=True)
            removed.add(seed)
    record = {"policy": policy, "selection_metric": metric, "kept": kept, "dev": scores, "removed": sorted(removed)}
    atomic_write_json(run_dir / RECORD, record)
    return record


def removed_note(run_dir: str | Path, seed: int) -> str | None:
    """Why ``seed`` of ``run_dir`` has no ``best.pt``, when the policy removed it."""
    path = Path(run_dir) / RECORD
    if not path.is_file():
        return None
    record = read_json(path)
    if seed in record.get("removed", []):
        return (f"its weights were removed after training (keep_weights: {record['policy']} kept seed "
                f"{record['kept']}'s); load seed {record['kept']}, or retrain seed {seed}")
    return None
