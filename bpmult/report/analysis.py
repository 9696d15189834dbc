"""Analysis of trained models: gate activations and t-SNE embeddings (paper §7.2–7.4).

Everything here works on the arrays a training run saves (``analysis.npz`` and
``predictions.npz``, see ``docs/design.md`` §3), never on a live model, so the figures can be
redrawn without retraining.

Shapes: N test samples, k inputs of a GMU, w gate width, C classes, d model width.

"Activation" has two readings in the paper and its peers, and every function says which it returns:
- ``mean_z``: the mean gate value z over the units of an input (MuLT-GMU's ``Analysis.ipynb``);
- ``share_above``: the share of gate units with z > 0.5 (the authors' per-genre bar chart, §3.8
  of the peer-code notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ACTIVATION_THRESHOLD = 0.5  # the authors' demo notebook counts units with z > 0.5


@dataclass(frozen=True)
class RunAnalysis:
    """The analysis arrays of one trained seed, read from disk.

    Attributes:
        gates: gate name -> array, batch first (``final``: (N, k, w)).
        tokens: token name -> (N, d) array.
        final_inputs: names of the final GMU's inputs, in order.
        labels: (N, C) multi-hot test labels (or (N, E) for IEMOCAP).
        probs: test probabilities, as saved by training.
        label_names: class names in label order.
    """

    gates: dict[str, np.ndarray]
    tokens: dict[str, np.ndarray]
    final_inputs: list[str]
    labels: np.ndarray
    probs: np.ndarray
    label_names: list[str]


def load_run_analysis(seed_dir: str | Path, label_names: list[str]) -> RunAnalysis:
    """Read ``analysis.npz`` and ``predictions.npz`` of one seed directory.

    Raises:
        FileNotFoundError: naming the missing file.
        KeyError: when the archive lacks ``final_inputs``.
    """
    seed_dir = Path(seed_dir)
    paths = {name: seed_dir / name for name in ("analysis.npz", "predictions.npz")}
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; it is written by `bpmult train` for every seed")
    with np.load(paths["analysis.npz"], allow_pickle=False) as archive:
        gates = {k.split("/", 1)[1]: archive[k] for k in archive.files if k.startswith("gates/")}
        tokens = {k.split("/", 1)[1]: archive[k] for k in archive.files if k.startswith("tokens/")}
        if "final_inputs" not in archive.files:
            raise KeyError(f"{paths['analysis.npz']}: key 'final_inputs' missing (names of the final GMU inputs)")
        final_inputs = [str(x) for x in archive["final_inputs"]]
    with np.load(paths["predictions.npz"], allow_pickle=False) as archive:
        labels, probs = archive["labels"], archive["probs"]
    return RunAnalysis(gates, tokens, final_inputs, labels, probs, list(label_names))


def gate_activation(z: np.ndarray) -> dict[str, np.ndarray]:
    """Per-input activation of a k-way gate.

    Args:
        z: (N, k, w) gate values in [0, 1].

    Returns:
        ``mean_z`` (N, k): the mean of z over the w units of each input;
        ``share_above`` (N, k): the share of units with z > 0.5.
    """
    if z.ndim != 3:
        raise ValueError(f"gate array must be (N, k, w); got shape {z.shape}")
    return {"mean_z": z.mean(axis=2), "share_above": (z > ACTIVATION_THRESHOLD).mean(axis=2)}


def activation_by_label(per_sample: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Average a per-sample activation over the samples of each class.

    Args:
        per_sample: (N, k) activation of each input for each sample.
        labels: (N, C) multi-hot labels; a sample counts towards every class it has.

    Returns:
        (C, k) mean activation per class; NaN for a class with no test sample.
    """
    labels = labels.astype(bool)
    out = np.full((labels.shape[1], per_sample.shape[1]), np.nan)
    for c in range(labels.shape[1]):
        if labels[:, c].any():
            out[c] = per_sample[labels[:, c]].mean(axis=0)
    return out


def fgmu_pair_activation(z: np.ndarray) -> np.ndarray:
    """Per-sample activation of the two inputs of a two-input FGMU (eq. 12).

    The FGMU weighs its first input by z and its second by 1 − z, so the activation of the second
    input is 1 − z.

    Args:
        z: (N, d) FGMU gate.

    Returns:
        (N, 2): the mean weight of input 1 and of input 2 per sample.
    """
    first = z.reshape(z.shape[0], -1).mean(axis=1)
    return np.stack([first, 1.0 - first], axis=1)


def primary_label(labels: np.ndarray) -> np.ndarray:
    """The class used to colour a multi-label sample: its rarest class in the set.

    Colouring by the rarest class keeps small genres visible (the common ones would otherwise
    cover every point). Samples with no class get -1.

    Args:
        labels: (N, C) multi-hot.

    Returns:
        (N,) int class index or -1.
    """
    labels = labels.astype(bool)
    freq = labels.sum(axis=0).astype(float)
    freq[freq == 0] = np.inf
    masked = np.where(labels, freq[None, :], np.inf)
    out = masked.argmin(axis=1)
    out[~labels.any(axis=1)] = -1
    return out


def tsne_embedding(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of row vectors (scikit-learn), with a perplexity valid for small test sets.

    Args:
        x: (N, d) vectors, N >= 4.

    Returns:
        (N, 2) coordinates.
    """
    from sklearn.manifold import TSNE

    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"t-SNE needs an (N, d) array with N >= 4; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("t-SNE input holds NaN or inf values")
    perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        x.astype(np.float64)
    )


def cluster_separation(xy: np.ndarray, classes: np.ndarray) -> float:
    """Silhouette score of a 2-D embedding under the colouring classes (higher = better clusters).

    Gives the report a number beside each t-SNE plot instead of the paper's "good"/"bad" reading.
    Returns NaN when fewer than two classes have two or more samples.
    """
    from sklearn.metrics import silhouette_score

    keep = classes >= 0
    values, counts = np.unique(classes[keep], return_counts=True)
    valid = set(values[counts >= 2].tolist())
    keep &= np.isin(classes, list(valid))
    if len(valid) < 2 or keep.sum() <= len(valid):
        return float("nan")
    return float(silhouette_score(xy[keep], classes[keep]))
