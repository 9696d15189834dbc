"""Matplotlib figures of the report. Each function returns a Figure; the caller saves it.

Colours follow the paper's figures: language yellow, video blue, audio red, poster black.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt  # headless runs fall back to Agg; notebooks keep their inline backend
import numpy as np

from bpmult.report.names import input_name

MODALITY_COLOURS = {"L": "#e6b800", "V": "#1f5fbf", "A": "#c62828", "P": "#7b7b7b",
                    "poster": "#111111", "metadata": "#6a1b9a"}


def input_colour(name: str) -> str:
    """Colour of a GMU input: by its target modality (``H'_L`` -> L, ``(A->V)->L`` -> L)."""
    if name in MODALITY_COLOURS:
        return MODALITY_COLOURS[name]
    tail = name.rstrip("')").split("->")[-1].strip("()'")
    return MODALITY_COLOURS.get(tail[-1:] if tail else "", "#555555")


def activation_bars(panels: Sequence[tuple[str, Sequence[str], np.ndarray, np.ndarray]],
                    ylabel: str) -> plt.Figure:
    """Bar charts of the mean activation per GMU input, one panel per model (paper Fig. 12 / 8).

    Args:
        panels: (title, input names as the model names them, mean (k,), std over samples (k,)) per
            panel; the axis shows the paper's labels (``P`` -> Par, ``poster`` -> Poster).
        ylabel: what the bars measure (mean z, or share of units above 0.5).
    """
    widths = [max(3.0, 0.55 * len(p[1]) + 1.5) for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths), 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (title, names, mean, std) in zip(axes[0], panels):
        x = np.arange(len(names))
        ax.bar(x, mean, yerr=std, color=[input_colour(n) for n in names], capsize=3)
        labels = [input_name(n) for n in names]
        ax.set_xticks(x, labels, rotation=45 if len(names) > 5 else 0, ha="right" if len(names) > 5 else "center")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def activation_by_label(per_label: np.ndarray, label_names: Sequence[str], input_names: Sequence[str],
                        title: str, ylabel: str) -> plt.Figure:
    """Stacked bars of each input's share of the activation per class (paper Fig. 13 / 14).

    Every bar sums to 1: the k inputs' activations are divided by their sum, so the segments read
    as shares (raw activations of k inputs would stack up to k).

    Args:
        per_label: (C, k) mean activation per class (NaN rows: classes absent from the test set).
        input_names: the model's names of the k inputs (labelled Par, Poster, ... in the legend).
    """
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(label_names) + 2), 3.8))
    x = np.arange(len(label_names))
    bottom = np.zeros(len(label_names))
    values = normalise_rows(np.nan_to_num(per_label, nan=0.0))
    for j, name in enumerate(input_names):
        ax.bar(x, values[:, j], bottom=bottom, color=input_colour(name), label=input_name(name), edgecolor="white")
        bottom += values[:, j]
    ax.set_xticks(x, label_names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share of total\n({ylabel})")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(len(input_names), 6), loc="upper center", bbox_to_anchor=(0.5, -0.35))
    fig.tight_layout()
    return fig


def normalise_rows(values: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows summing to 0 stay 0)."""
    total = values.sum(axis=1, keepdims=True)
    return np.divide(values, total, out=np.zeros_like(values, dtype=float), where=total > 0)


def fgmu_boxplots(per_target: Mapping[str, Mapping[str, tuple[Sequence[str], np.ndarray]]]) -> plt.Figure:
    """Box plots of the middle and top FGMU activations per target modality (paper Fig. 16).

    Args:
        per_target: target ("L", "V", "A") -> {"middle FGMU": (names, (N, 2)), "top FGMU": (names, (N, 2))}.
    """
    targets = list(per_target)
    rows = list(next(iter(per_target.values())))
    fig, axes = plt.subplots(len(rows), len(targets), figsize=(3.3 * len(targets), 3.0 * len(rows)),
                             squeeze=False, sharey=True)
    # the two weights of a sample sum to 1, so they mirror each other about 0.5; a fixed 0-1 axis
    # squashes the boxes into slivers when the gate barely moves: zoom to the data, keep 0.5 visible
    every = np.concatenate([v[1].ravel() for t in per_target.values() for v in t.values()])
    spread = max(float(np.percentile(np.abs(every - 0.5), 99)), 0.01)
    for j, target in enumerate(targets):
        for i, row in enumerate(rows):
            names, values = per_target[target][row]
            ax = axes[i][j]
            ax.boxplot([values[:, 0], values[:, 1]], showfliers=False)
            ax.axhline(0.5, color="#999999", lw=0.8, ls="--")
            ax.set_xticks([1, 2], names, fontsize=8)
            ax.set_ylim(0.5 - 1.15 * spread, 0.5 + 1.15 * spread)
            ax.set_title(f"{row}, target {target}", fontsize=9)
            if j == 0:
                ax.set_ylabel("mean gate weight\nper test sample")
    fig.tight_layout()
    return fig


def tsne_scatter(xy: np.ndarray, classes: np.ndarray, label_names: Sequence[str], title: str) -> plt.Figure:
    """Scatter of a 2-D t-SNE embedding coloured by class (paper Fig. 15, 18–21)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    cmap = plt.get_cmap("tab20")
    for c, name in enumerate(label_names):
        keep = classes == c
        if keep.any():
            ax.scatter(xy[keep, 0], xy[keep, 1], s=12, color=cmap(c % 20), label=name)
    if (classes < 0).any():
        ax.scatter(xy[classes < 0, 0], xy[classes < 0, 1], s=8, color="#bbbbbb", label="(none)")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def training_curves(histories: Mapping[str, "object"], metric: str) -> plt.Figure:
    """Train/dev loss and the dev selection metric per epoch, one line per seed.

    Args:
        histories: seed label -> a pandas DataFrame with ``epoch``, ``train_loss``, ``dev_loss``
            and ``metric`` columns.
        metric: the selection-metric column to plot.
    """
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(9, 3.2))
    for label, frame in histories.items():
        line = ax_loss.plot(frame["epoch"], frame["train_loss"], label=f"{label} train")[0]
        if "dev_loss" in frame:
            ax_loss.plot(frame["epoch"], frame["dev_loss"], "--", color=line.get_color(), label=f"{label} dev")
        if metric in frame:
            ax_metric.plot(frame["epoch"], frame[metric], color=line.get_color(), label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=7)
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel(metric)
    ax_metric.legend(fontsize=7)
    fig.tight_layout()
    return fig


def mark_synthetic(fig: plt.Figure, profile: str) -> None:
    """Stamp a figure as drawn from synthetic data, so a copied PNG still says so."""
    fig.text(0.5, 0.5, "SYNTHETIC DATA", fontsize=40, color="#d08000", alpha=0.18, rotation=25,
             ha="center", va="center", transform=fig.transFigure, zorder=1000)
    fig.text(0.995, 0.005, f"synthetic data (profile {profile}), not the paper's results", fontsize=7,
             color="#b06000", ha="right", va="bottom", transform=fig.transFigure)
