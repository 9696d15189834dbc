"""Evaluation metrics of the four datasets (reproduction spec §3), computed with scikit-learn.

Every value is a **percentage** (0–100), as in the paper's tables. Every function returns a flat
dict with self-explaining keys (``ap_micro``, ``neutral_acc``, ``avg_wacc``, ...).

Shapes: N samples, C classes, E emotions.

Degenerate columns (a class or emotion whose truth has a single value, common in tiny dev splits):
- average precision: ``ap_macro`` averages over the classes with at least one positive,
  ``ap_samples`` over the samples with at least one positive, ``ap_micro`` needs one positive in
  all; with none left the value is NaN (scikit-learn would warn and count such a class as 0);
- F1 at 0.5: scikit-learn's ``zero_division=0`` (its default value, without the warning), which
  is what the authors' code got;
- IEMOCAP ROC-AUC and MOSEI weighted accuracy are undefined for a one-class truth column: NaN;
- averages over emotions ignore NaN entries (``nanmean``) and are NaN only when all are.
A NaN is written to JSON as ``null`` by the training code.
"""

from __future__ import annotations

import re
import warnings
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

THRESHOLD = 0.5  # sigmoid threshold for F1 (authors' `sigmoid(out) > 0.5`, GMU's gmu.json)

IEMOCAP_EMOTIONS = ("neutral", "happy", "sad", "angry")  # MuLT's eval_iemocap order
MOSEI_EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")  # Dai et al. header order

# dev metric used for model selection, the LR schedule and early stopping (spec §3)
SELECTION_METRIC = {
    "moviescope": "ap_micro",
    "mmimdb": "f1_micro",
    "iemocap_aligned": "avg_acc",
    "iemocap_unaligned": "avg_acc",
    "mosei": "avg_wacc",
}


def _pct(value: float) -> float:
    return float(100.0 * value)


def _nanmean(values: Sequence[float]) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def metric_key(name: str) -> str:
    """A label name as a metric-key prefix: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _check_2d(labels: np.ndarray, probs: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=float)
    if labels.ndim != 2 or labels.shape != probs.shape:
        raise ValueError(f"{what}: labels and probs must both be (N, C); got {labels.shape} and {probs.shape}")
    return labels.astype(int), probs


def average_precision(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Average precision on probabilities: ``ap_micro``, ``ap_macro``, ``ap_samples`` (in %).

    Args:
        labels: (N, C) multi-hot truth.
        probs: (N, C) sigmoid probabilities.
    """
    labels, probs = _check_2d(labels, probs, "average_precision")
    nan = float("nan")
    out = {"ap_micro": nan, "ap_macro": nan, "ap_samples": nan}
    if labels.any():
        out["ap_micro"] = _pct(average_precision_score(labels, probs, average="micro"))
    classes = labels.any(axis=0)
    if classes.any():
        out["ap_macro"] = _pct(average_precision_score(labels[:, classes], probs[:, classes], average="macro"))
    samples = labels.any(axis=1)
    if samples.any():
        out["ap_samples"] = _pct(average_precision_score(labels[samples], probs[samples], average="samples"))
    return out


def f1_at_threshold(labels: np.ndarray, probs: np.ndarray, averages: Sequence[str],
                    threshold: float = THRESHOLD) -> dict[str, float]:
    """F1 of ``probs > threshold`` for each scikit-learn ``average`` (keys ``f1_<average>``, in %)."""
    labels, probs = _check_2d(labels, probs, "f1_at_threshold")
    pred = (probs > threshold).astype(int)
    return {f"f1_{a}": _pct(f1_score(labels, pred, average=a, zero_division=0)) for a in averages}


def moviescope_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Moviescope (Tables 1–2): AP micro/macro/samples and F1 micro/macro at 0.5, in %."""
    return {**average_precision(labels, probs), **f1_at_threshold(labels, probs, ("micro", "macro"))}


def mmimdb_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """MM-IMDb (Table 3): F1 micro/macro/weighted/samples at 0.5, in %."""
    return f1_at_threshold(labels, probs, ("micro", "macro", "weighted", "samples"))


def weighted_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """Weighted accuracy ``(TP·N/P + TN) / (2N)`` = mean of TPR and TNR, as a fraction.

    P and N count the positives and negatives of the truth. NaN when either is zero.
    """
    truth, pred = np.asarray(truth).astype(bool), np.asarray(pred).astype(bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    tp, tn = int((truth & pred).sum()), int((~truth & ~pred).sum())
    return (tp * negatives / positives + tn) / (2 * negatives)


def mosei_metrics(labels: np.ndarray, probs: np.ndarray,
                  emotions: Sequence[str] = MOSEI_EMOTIONS) -> dict[str, float]:
    """CMU-MOSEI emotions (Table 6): per emotion weighted accuracy and binary F1 at 0.5, in %.

    Args:
        labels: (N, E) multi-hot truth.
        probs: (N, E) sigmoid probabilities.
        emotions: names of the E columns (keys ``<emotion>_wacc``, ``<emotion>_f1``).

    Returns:
        per-emotion values and their means ``avg_wacc``, ``avg_f1``.
    """
    labels, probs = _check_2d(labels, probs, "mosei_metrics")
    if labels.shape[1] != len(emotions):
        raise ValueError(f"mosei_metrics: {labels.shape[1]} label columns but {len(emotions)} emotion names")
    pred = (probs > THRESHOLD).astype(int)
    out: dict[str, float] = {}
    for i, name in enumerate(emotions):
        key = metric_key(name)
        out[f"{key}_wacc"] = _pct(weighted_accuracy(labels[:, i], pred[:, i]))
        out[f"{key}_f1"] = _pct(f1_score(labels[:, i], pred[:, i], average="binary", zero_division=0))
    out["avg_wacc"] = _nanmean([out[f"{metric_key(n)}_wacc"] for n in emotions])
    out["avg_f1"] = _nanmean([out[f"{metric_key(n)}_f1"] for n in emotions])
    return out


def iemocap_metrics(labels: np.ndarray, probs: np.ndarray,
                    emotions: Sequence[str] = IEMOCAP_EMOTIONS) -> dict[str, float]:
    """IEMOCAP (Tables 4–5), MuLT's 4 × 2-way head, in %.

    Per emotion: accuracy and weighted F1 of the 2-way argmax (MuLT's ``eval_iemocap``), and
    ROC-AUC of the positive-class softmax probability.

    Args:
        labels: (N, E) int in {0, 1}.
        probs: (N, E, 2) softmax probabilities ``[negative, positive]`` per emotion.
        emotions: names of the E emotions (keys ``<emotion>_acc``, ``_f1``, ``_auc``).

    Returns:
        per-emotion values and their means ``avg_acc``, ``avg_f1``, ``avg_auc``.
    """
    labels, probs = np.asarray(labels).astype(int), np.asarray(probs, dtype=float)
    if labels.ndim != 2 or probs.shape != (*labels.shape, 2):
        raise ValueError(f"iemocap_metrics: labels must be (N, E) and probs (N, E, 2); got {labels.shape} and {probs.shape}")
    if labels.shape[1] != len(emotions):
        raise ValueError(f"iemocap_metrics: {labels.shape[1]} label columns but {len(emotions)} emotion names")
    pred = probs.argmax(axis=-1)
    out: dict[str, float] = {}
    for i, name in enumerate(emotions):
        key, truth = metric_key(name), labels[:, i]
        out[f"{key}_acc"] = _pct(accuracy_score(truth, pred[:, i]))
        with warnings.catch_warnings():  # a one-class column is a documented case, not a surprise
            warnings.simplefilter("ignore")
            out[f"{key}_f1"] = _pct(f1_score(truth, pred[:, i], average="weighted", zero_division=0))
        out[f"{key}_auc"] = (_pct(roc_auc_score(truth, probs[:, i, 1])) if len(np.unique(truth)) == 2
                             else float("nan"))
    for suffix in ("acc", "f1", "auc"):
        out[f"avg_{suffix}"] = _nanmean([out[f"{metric_key(n)}_{suffix}"] for n in emotions])
    return out


def selection_metric(dataset: str) -> str:
    """The dev metric that selects the best epoch of ``dataset`` (higher is better)."""
    if dataset not in SELECTION_METRIC:
        raise ValueError(f"no selection metric for dataset {dataset!r}; known: {sorted(SELECTION_METRIC)}")
    return SELECTION_METRIC[dataset]


def compute_metrics(dataset: str, labels: np.ndarray, probs: np.ndarray,
                    label_names: Sequence[str] | None = None) -> dict[str, float]:
    """All metrics of ``dataset`` (in %).

    Args:
        dataset: ``moviescope``, ``mmimdb``, ``iemocap_aligned``, ``iemocap_unaligned`` or ``mosei``.
        labels: truth as stored in the prepared data (multi-hot (N, C), IEMOCAP int (N, 4)).
        probs: sigmoid probabilities (N, C), IEMOCAP softmax (N, 4, 2).
        label_names: emotion names for IEMOCAP / MOSEI keys; default the canonical order.
    """
    if dataset == "moviescope":
        return moviescope_metrics(labels, probs)
    if dataset == "mmimdb":
        return mmimdb_metrics(labels, probs)
    if dataset in ("iemocap_aligned", "iemocap_unaligned"):
        return iemocap_metrics(labels, probs, label_names or IEMOCAP_EMOTIONS)
    if dataset == "mosei":
        return mosei_metrics(labels, probs, label_names or MOSEI_EMOTIONS)
    raise ValueError(f"no metrics for dataset {dataset!r}; known: {sorted(SELECTION_METRIC)}")
