"""Small run folders and prepared data in the formats of docs/design.md §1 and §3, written here
independently of the training code, so the report can be tested without training anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GENRES = ["Action", "Comedy", "Drama", "Horror"]
N_TEST = 24
WIDTH = 6  # gate units / token width

FINAL_INPUTS = {
    "bpmult": ["L", "V", "A", "P", "poster"],
    "mult_gmu": ["L", "V", "A", "poster"],
    "bpmult_all_transformers": ["A->V", "V->A", "A->L", "L->A", "L->V", "V->L", "(A->V)->L", "(V->A)->L",
                                "(A->L)->V", "(L->A)->V", "(L->V)->A", "(V->L)->A", "poster"],
}
TOKENS = ["A->V", "(A->V)->L", "V->A", "(V->A)->L", "gmu_part_L", "gmu_part_V", "gmu_part_A", "gmu_part_poster"]


def test_labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((N_TEST, len(GENRES))) < 0.4).astype(np.float32)
    labels[np.arange(N_TEST), np.arange(N_TEST) % len(GENRES)] = 1.0  # every genre present
    return labels


def write_prepared(root: Path, dataset: str = "moviescope") -> Path:
    """``root/<dataset>/`` with a manifest and multi-hot labels for train, dev and test."""
    out = Path(root) / dataset
    splits = {"train": np.tile(test_labels(1), (2, 1))[:40], "dev": test_labels(2)[:12], "test": test_labels()}
    for split, labels in splits.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        np.save(out / split / "label.npy", labels)
    (out / "manifest.json").write_text(json.dumps({
        "dataset": dataset, "task": "multilabel", "label_names": GENRES,
        "splits": {"train": {"n": 40}, "dev": {"n": 12}, "test": {"n": N_TEST}},
        "modalities": {"text": [4, 8], "video": [3, 8], "audio": [5, 8], "poster": [8]},
        "text_encoder": {"name": "minilm"}, "synthetic": True, "sources": {"raw/a.csv": "ab" * 32}}))
    return out


def write_seed(seed_dir: Path, test: dict[str, float], *, variant: str = "bpmult", gate_centre: float = 0.5,
               seed: int = 0) -> None:
    """One ``seed_<s>`` folder: metrics.json, history.csv, predictions.npz, analysis.npz."""
    rng = np.random.default_rng(seed)
    seed_dir.mkdir(parents=True, exist_ok=True)
    (seed_dir / "metrics.json").write_text(json.dumps(
        {"dev": {k: v - 1.0 for k, v in test.items()}, "test": test, "best_epoch": 2, "train_seconds": 1.5}))
    rows = ["epoch,train_loss,dev_loss,dev_ap_micro,lr"] + [
        f"{e},{1.0 / e:.4f},{1.1 / e:.4f},{30 + e:.2f},0.003" for e in range(1, 4)]
    (seed_dir / "history.csv").write_text("\n".join(rows) + "\n")
    labels = test_labels()
    np.savez(seed_dir / "predictions.npz", probs=rng.random(labels.shape).astype(np.float32), labels=labels,
             ids=np.array([f"m{i}" for i in range(N_TEST)]))
    inputs = FINAL_INPUTS.get(variant, FINAL_INPUTS["bpmult"])
    arrays = {"final_inputs": np.array(inputs),
              "gates/final": np.clip(rng.normal(gate_centre, 0.2, (N_TEST, len(inputs), WIDTH)), 0, 1)}
    for target in "LVA":
        for level in ("middle", "top"):
            arrays[f"gates/{level}_{target}"] = np.clip(rng.normal(0.5, 0.01, (N_TEST, WIDTH)), 0, 1)
    for token in TOKENS:
        arrays[f"tokens/{token}"] = rng.normal(0, 1, (N_TEST, WIDTH)) + labels[:, :1] * 3.0
    np.savez(seed_dir / "analysis.npz", **arrays)


def write_run(runs: Path, name: str, per_seed: list[dict[str, float]], *, variant: str | None = None,
              summary: bool = True) -> Path:
    """A run folder with one seed per entry of ``per_seed`` and (optionally) its summary.json."""
    run = Path(runs) / name
    variant = variant or name.split("-")[1]
    for i, test in enumerate(per_seed, start=1):
        write_seed(run / f"seed_{i}", test, variant=variant, seed=i)
    if summary:
        write_summary(run / "summary.json", name, per_seed)
    return run


def write_summary(path: Path, name: str, per_seed: list[dict[str, float]]) -> None:
    """A summary.json: per metric mean, sample std (ddof 1) and n over seeds."""
    dataset, variant = name.split("-")[:2]
    test = {}
    for key in per_seed[0]:
        values = np.array([s[key] for s in per_seed], dtype=float)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        test[key] = {"mean": float(values.mean()), "std": std, "n": len(values)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dataset": dataset, "variant": variant, "selection_metric": "ap_micro",
                                "n_seeds": len(per_seed), "test": test, "dev": test}))
