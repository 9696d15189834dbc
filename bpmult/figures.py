"""The paper's analysis figures, each drawn from the arrays a training run saved.

One function per figure of ``spec/reproduction.md`` §5; each returns a :class:`Figure` record with
the matplotlib figure, a caption naming the paper figure it reproduces and saying which activation
it shows, and the numbers behind it (so the report prints them beside the picture).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bpmult import analysis, plots

ACTIVATION_LABELS = {"mean_z": "mean gate value z", "share_above": "share of gate units with z > 0.5"}


@dataclass
class Figure:
    """A rendered figure: file stem (by content), caption, the matplotlib figure and its numbers."""

    name: str
    caption: str
    figure: Any
    numbers: dict[str, Any] = field(default_factory=dict)

    def save(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}.png"
        tmp = out_dir / f".{self.name}.tmp.png"
        self.figure.savefig(tmp, dpi=110, bbox_inches="tight")
        tmp.replace(path)
        return path


def first_seed_dir(run_dir: Path) -> Path:
    """The lowest-numbered ``seed_<s>`` directory of a run (the figures show one trained model)."""
    seeds = sorted(Path(run_dir).glob("seed_*"), key=lambda p: int(p.name.split("_")[1]))
    if not seeds:
        raise FileNotFoundError(f"{run_dir}: no seed_* directory; train this run first")
    return seeds[0]


def load(run_dir: Path, prepared_dir: Path) -> analysis.RunAnalysis:
    """The analysis arrays of a run's first seed, with the label names of its prepared data."""
    manifest = json.loads((Path(prepared_dir) / "manifest.json").read_text())
    return analysis.load_run_analysis(first_seed_dir(run_dir), manifest["label_names"])


def _short(name: str) -> str:
    return {"poster": "P(oster)", "metadata": "M(eta)"}.get(name, name)


def final_gmu_activation(runs: dict[str, analysis.RunAnalysis], kind: str = "mean_z") -> Figure:
    """Fig. 12 (and Fig. 8 for the all-transformers run): final-GMU activation per input."""
    panels, numbers = [], {}
    for title, run in runs.items():
        act = analysis.gate_activation(run.gates["final"])[kind]
        names = [_short(n) for n in run.final_inputs]
        panels.append((title, names, act.mean(axis=0), act.std(axis=0)))
        numbers[title] = dict(zip(run.final_inputs, np.round(act.mean(axis=0), 4).tolist()))
    fig = plots.activation_bars(panels, ACTIVATION_LABELS[kind])
    return Figure("", "", fig, numbers)


def activation_per_label(run: analysis.RunAnalysis, title: str, kind: str = "share_above") -> Figure:
    """Fig. 13 / 14: final-GMU activation per genre (mean over the test samples of each genre)."""
    act = analysis.gate_activation(run.gates["final"])[kind]
    per_label = analysis.activation_by_label(act, run.labels)
    fig = plots.activation_by_label(per_label, run.label_names, [_short(n) for n in run.final_inputs],
                                    title, ACTIVATION_LABELS[kind])
    numbers = {name: dict(zip(run.final_inputs, np.round(row, 4).tolist()))
               for name, row in zip(run.label_names, per_label)}
    return Figure("", "", fig, numbers)


# inputs of the middle and top FGMU of each target (architecture.md §2, steps 5–6)
FGMU_INPUTS = {
    "L": {"middle FGMU": ("A->V", "V->A"), "top FGMU": ("(A->V)->L", "(V->A)->L")},
    "V": {"middle FGMU": ("L->A", "A->L"), "top FGMU": ("(L->A)->V", "(A->L)->V")},
    "A": {"middle FGMU": ("L->V", "V->L"), "top FGMU": ("(L->V)->A", "(V->L)->A")},
}


def fgmu_activation(run: analysis.RunAnalysis) -> Figure:
    """Fig. 16: per-sample mean z of the middle and top FGMU of each target (box plots)."""
    per_target, numbers = {}, {}
    for target, rows in FGMU_INPUTS.items():
        per_target[target] = {}
        for row, names in rows.items():
            key = f"{'middle' if row.startswith('middle') else 'top'}_{target}"
            if key not in run.gates:
                raise KeyError(f"gate '{key}' missing from the run's analysis.npz; has {sorted(run.gates)}")
            pair = analysis.fgmu_pair_activation(run.gates[key])
            per_target[target][row] = (names, pair)
            numbers[key] = dict(zip(names, np.round(pair.mean(axis=0), 4).tolist()))
    return Figure("", "", plots.fgmu_boxplots(per_target), numbers)


def tsne_of(run: analysis.RunAnalysis, token: str, title: str, seed: int = 0) -> Figure:
    """Fig. 15, 18–21 and the appendix: t-SNE of one saved vector, coloured by genre."""
    if token not in run.tokens:
        raise KeyError(f"token '{token}' missing from the run's analysis.npz; has {sorted(run.tokens)}")
    x = run.tokens[token].reshape(run.tokens[token].shape[0], -1)
    xy = analysis.tsne_embedding(x, seed=seed)
    classes = analysis.primary_label(run.labels)
    score = analysis.cluster_separation(xy, classes)
    fig = plots.tsne_scatter(xy, classes, run.label_names, f"{title}\nsilhouette {score:.3f}")
    return Figure("", "", fig, {"silhouette": round(score, 4), "n": int(x.shape[0])})


def named(fig: Figure, name: str, caption: str) -> Figure:
    """Attach the file name and caption to a figure record."""
    fig.name, fig.caption = name, caption
    return fig
