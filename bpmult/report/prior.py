"""The label-prior baseline: what a model scores that ignores its inputs.

Every test sample gets the training set's label frequencies as its probabilities (per class for
multi-label sets; per emotion, positive vs negative, for IEMOCAP). The report prints this row under
each table so a reader can see whether a trained model learned anything beyond class balance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bpmult.train.metrics import compute_metrics



def prior_probabilities(train_labels: np.ndarray, n_test: int, task: str) -> np.ndarray:
    """Constant probabilities from the training labels.

    Args:
        train_labels: multi-hot (N, C), or IEMOCAP int (N, E) in {0, 1}.
        n_test: rows to produce.
        task: ``multilabel`` or ``iemocap``.

    Returns:
        (n_test, C) frequencies, or (n_test, E, 2) ``[1 - f, f]`` for IEMOCAP.
    """
    freq = np.asarray(train_labels, dtype=float).mean(axis=0)
    if task == "iemocap":
        return np.broadcast_to(np.stack([1.0 - freq, freq], axis=-1), (n_test, *freq.shape, 2)).copy()
    if task != "multilabel":
        raise ValueError(f"task {task!r}: expected 'multilabel' or 'iemocap'")
    return np.broadcast_to(freq, (n_test, freq.shape[0])).copy()


def prior_metrics(prepared_dir: str | Path, split: str = "test") -> dict[str, float]:
    """The dataset's metrics (``bpmult.train.metrics``) of the label prior on ``split``."""

    prepared_dir = Path(prepared_dir)
    manifest = json.loads((prepared_dir / "manifest.json").read_text())
    train = np.load(prepared_dir / "train" / "label.npy")
    truth = np.load(prepared_dir / split / "label.npy")
    probs = prior_probabilities(train, truth.shape[0], manifest["task"])
    return compute_metrics(manifest["dataset"], truth, probs, manifest["label_names"])
