"""Use a trained model: evaluate it on a prepared split, or write its predictions.

    bpmult evaluate runs/mosei-bpmult --data data/prepared/mosei [--split test] [--seed 1]
    bpmult predict  runs/mosei-bpmult --data data/prepared/mosei --out preds.npz

Both rebuild the model with :func:`bpmult.experiment.load_trained` (its config and best weights)
and check that the prepared data has the inputs the model was built for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bpmult.data import collate, load_prepared, read_manifest
from bpmult.experiment.run import TrainedModel, load_trained
from bpmult.experiment.spec import check_dataset, model_inputs, resolve_modalities
from bpmult.train import metrics as M
from bpmult.train.artifacts import atomic_savez
from bpmult.train.loop import make_loader, predict
from bpmult.train.losses import TaskLoss
from bpmult.train.runtime import pick_device

SPLITS = ("train", "dev", "test")
CHECKED_FIELDS = ("orig_d_text", "orig_d_video", "orig_d_audio", "extras", "n_classes", "head")


def check_compatible(trained: TrainedModel, data_dir: Path, manifest: dict[str, Any]) -> str:
    """The dataset name; a one-line error when the data lacks what the model was built for."""
    dataset = check_dataset(manifest, trained.run_config.get("dataset"), data_dir)
    _, extras = resolve_modalities(manifest, trained.run_config.get("modalities"))
    found = model_inputs(manifest, dataset, extras)
    for name in CHECKED_FIELDS:
        expected = getattr(trained.config, name)
        if found[name] != expected:
            raise ValueError(f"{data_dir}/manifest.json: the model was trained with {name}={expected!r}, "
                             f"this data gives {found[name]!r}")
    return dataset


def run_split(run_dir: str | Path, data_dir: str | Path, *, split: str = "test", seed: int | None = None,
              device: str | torch.device | None = None, batch_size: int = 32) -> dict[str, Any]:
    """The trained model's probabilities, labels, ids and metrics on one split."""
    if split not in SPLITS:
        raise ValueError(f"--split {split!r}: expected one of {list(SPLITS)}")
    data_dir = Path(data_dir)
    device = pick_device(device)
    trained = load_trained(run_dir, seed=seed, device=device)
    manifest = read_manifest(data_dir)
    dataset = check_compatible(trained, data_dir, manifest)
    data = load_prepared(data_dir, split)
    loader = make_loader(data, batch_size, collate=collate)
    out = predict(trained.model, loader, TaskLoss(manifest["task"]).to(device), task=manifest["task"], device=device,
                  amp=False)
    names = [M.metric_key(n) for n in manifest["label_names"]]
    metrics = {"loss": out["loss"], **M.compute_metrics(dataset, out["labels"], out["probs"], names)}
    return {"dataset": dataset, "split": split, "seed": trained.seed, "best_epoch": trained.best_epoch,
            "variant": trained.run_config.get("variant"), "probs": out["probs"], "labels": out["labels"],
            "ids": list(data.ids), "label_names": list(manifest["label_names"]), "metrics": metrics}


def write_predictions(result: dict[str, Any], out: str | Path) -> Path:
    """``probs``, ``labels``, ``ids`` and ``label_names`` of a :func:`run_split` result as ``.npz``."""
    return atomic_savez(Path(out), {"probs": result["probs"].astype(np.float32), "labels": result["labels"],
                                    "ids": np.asarray([str(i) for i in result["ids"]], dtype=str),
                                    "label_names": np.asarray(result["label_names"], dtype=str)})
