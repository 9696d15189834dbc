"""The paper's analysis figures: one table of them (``FIGURES``) and the functions that draw each.

``FIGURES`` is the only list of figures: the figures notebook draws them in its order, the index
page shows them with its captions, and the stage layer reads :func:`figure_runs` for the figures
stage's dependencies. Every figure is drawn from the arrays a Moviescope run saved on its test set
(first seed; ``docs/design.md`` §3), never from a live model.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bpmult.atomic import atomic_write
from bpmult.report import analysis, plots
from bpmult.report.names import input_name
from bpmult.report.runs import first_seed_dir, run_name

DATASET = "moviescope"  # the paper's analysis (§7) is on Moviescope only
ACTIVATION_LABELS = {"mean_z": "mean gate value z", "share_above": "share of gate units with z > 0.5"}
_SILHOUETTE = "coloured by each movie's rarest genre (the data are multi-label); silhouette score in the title."


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report.

    Attributes:
        file: PNG stem under the figures folder.
        paper_figure: the paper's figure it reproduces ("Fig. 12", "appendix").
        caption: what it shows and which activation reading.
        runs: the Moviescope variants whose runs it reads, in panel order.
        kind: which drawing function (a key of ``_DRAW``).
        options: that function's keyword arguments, as (name, value) pairs.
        title: a heading in the paper's words (the notebook's section title).
    """

    file: str
    paper_figure: str
    caption: str
    runs: tuple[str, ...]
    kind: str
    options: tuple[tuple[str, Any], ...] = ()
    title: str = ""


def _tsne(file: str, paper_figure: str, token: str, what: str) -> FigureSpec:
    return FigureSpec(file, paper_figure, f"Reproduces paper {paper_figure}: t-SNE of {what} on the test set, "
                      + _SILHOUETTE, ("bpmult",), "tsne", (("token", token), ("title", f"BPMuLT: {what}")),
                      title=f"t-SNE of {what.split(' z_')[0]}")


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("gate_activation_per_modality", "Fig. 12",
               "Reproduces paper Fig. 12: final-GMU activation per input on the Moviescope test set, MuLT-GMU "
               "(left) beside BPMuLT (right). Bars: mean gate value z per input, averaged over test samples "
               "(error bars: std over samples). Par is BPMuLT's parallel branch H_P (eq. 23), Poster the poster "
               "vector.", ("mult_gmu", "bpmult"), "final_gmu", (("titles", ("MuLT-GMU", "BPMuLT")),),
               title="final-GMU activation per input, MuLT-GMU and BPMuLT"),
    FigureSpec("gate_activation_per_genre_mult_gmu", "Fig. 13",
               "Reproduces paper Fig. 13: MuLT-GMU final-GMU activation per genre. Per genre, the share of gate "
               "units with z > 0.5 of each input, averaged over the genre's test movies, then divided by the sum "
               "over inputs so each bar sums to 1 (each input's share of the activation).",
               ("mult_gmu",), "per_genre", (("title", "MuLT-GMU"),), title="MuLT-GMU final-GMU activation per genre"),
    FigureSpec("gate_activation_per_genre_bpmult", "Fig. 14",
               "Reproduces paper Fig. 14: BPMuLT final-GMU activation per genre, as Fig. 13 (shares of units with "
               "z > 0.5, normalised to sum 1 per genre). Par is the parallel branch H_P.",
               ("bpmult",), "per_genre", (("title", "BPMuLT"),), title="BPMuLT final-GMU activation per genre"),
    FigureSpec("gate_activation_all_transformers", "Fig. 8",
               "Reproduces paper Fig. 8: final-GMU activation per input of the all-transformers ablation "
               "(12 CT tokens + poster); mean gate value z, error bars: std over test samples.",
               ("bpmult_all_transformers",), "final_gmu", (("titles", ("BPMuLT-all-transformers",)),),
               title="final-GMU activation of BPMuLT-all-transformers"),
    FigureSpec("fgmu_activation_boxplots", "Fig. 16",
               "Reproduces paper Fig. 16: per test sample, the mean weight each middle FGMU (row 1) and top FGMU "
               "(row 2) gives its two inputs (z for the first, 1 − z for the second, eq. 12), per target modality "
               "L, V, A (columns). The y axis is zoomed to the data around 0.5 (dashed).",
               ("bpmult",), "fgmu", title="middle and top FGMU activations of BPMuLT"),
    _tsne("tsne_final_gmu_text", "Fig. 15", "gmu_part_L", "the final GMU's text part z_L ⊙ tanh(W_L H'_L)"),
    _tsne("tsne_ct_A_to_V", "Fig. 18", "A->V", "the crossmodal transformer output A->V"),
    _tsne("tsne_ct_A_to_V_to_L", "Fig. 19", "(A->V)->L", "the crossmodal transformer output (A->V)->L"),
    _tsne("tsne_ct_V_to_A", "Fig. 20", "V->A", "the crossmodal transformer output V->A"),
    _tsne("tsne_ct_V_to_A_to_L", "Fig. 21", "(V->A)->L", "the crossmodal transformer output (V->A)->L"),
    _tsne("tsne_final_gmu_video", "appendix", "gmu_part_V", "the final GMU's video part"),
    _tsne("tsne_final_gmu_audio", "appendix", "gmu_part_A", "the final GMU's audio part"),
    _tsne("tsne_final_gmu_poster", "appendix", "gmu_part_poster", "the final GMU's poster part"),
)
BY_FILE = {spec.file: spec for spec in FIGURES}


def figure_runs() -> list[str]:
    """The run folders the figures read (the figures stage's data dependencies)."""
    return sorted({run_name(DATASET, variant) for spec in FIGURES for variant in spec.runs})


@dataclass
class Figure:
    """A drawn figure: its spec, the matplotlib figure and the numbers behind it."""

    spec: FigureSpec
    figure: Any
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.file

    @property
    def caption(self) -> str:
        return self.spec.caption

    def save(self, out_dir: Path, synthetic_profile: str | None = None) -> Path:
        """Write ``<out_dir>/<file>.png`` atomically; stamped as synthetic when a profile is given."""
        if synthetic_profile is not None:
            plots.mark_synthetic(self.figure, synthetic_profile)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        return atomic_write(Path(out_dir) / f"{self.name}.png", lambda handle: handle.write(buffer.getvalue()))


def load(run_dir: Path, prepared_dir: Path) -> analysis.RunAnalysis:
    """The analysis arrays of a run's first seed, with the label names of its prepared data."""
    manifest_path = Path(prepared_dir) / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: missing; prepare the {DATASET} data first")
    manifest = json.loads(manifest_path.read_text())
    return analysis.load_run_analysis(first_seed_dir(run_dir), manifest["label_names"])


def final_gmu_activation(runs: list[analysis.RunAnalysis], titles: tuple[str, ...], kind: str = "mean_z"):
    """Fig. 12 (and Fig. 8 for the all-transformers run): final-GMU activation per input."""
    panels, numbers = [], {}
    for title, run in zip(titles, runs):
        act = analysis.gate_activation(run.gates["final"])[kind]
        panels.append((title, run.final_inputs, act.mean(axis=0), act.std(axis=0)))
        numbers[title] = dict(zip(map(input_name, run.final_inputs), np.round(act.mean(axis=0), 4).tolist()))
    return plots.activation_bars(panels, ACTIVATION_LABELS[kind]), numbers


def activation_per_label(runs: list[analysis.RunAnalysis], title: str, kind: str = "share_above"):
    """Fig. 13 / 14: each input's share of the final-GMU activation per genre (rows sum to 1)."""
    run = runs[0]
    act = analysis.gate_activation(run.gates["final"])[kind]
    per_label = analysis.activation_by_label(act, run.labels)
    fig = plots.activation_by_label(per_label, run.label_names, run.final_inputs, title, ACTIVATION_LABELS[kind])
    shares = plots.normalise_rows(np.nan_to_num(per_label, nan=0.0))
    numbers = {name: dict(zip(map(input_name, run.final_inputs), np.round(row, 4).tolist()))
               for name, row in zip(run.label_names, shares)}
    return fig, numbers


# inputs of the middle and top FGMU of each target (architecture.md §2, steps 5–6)
FGMU_INPUTS = {
    "L": {"middle FGMU": ("A->V", "V->A"), "top FGMU": ("(A->V)->L", "(V->A)->L")},
    "V": {"middle FGMU": ("L->A", "A->L"), "top FGMU": ("(L->A)->V", "(A->L)->V")},
    "A": {"middle FGMU": ("L->V", "V->L"), "top FGMU": ("(L->V)->A", "(V->L)->A")},
}


def fgmu_activation(runs: list[analysis.RunAnalysis]):
    """Fig. 16: per-sample mean z of the middle and top FGMU of each target (box plots)."""
    run = runs[0]
    per_target, numbers = {}, {}
    for target, rows in FGMU_INPUTS.items():
        per_target[target] = {}
        for row, inputs in rows.items():
            key = f"{'middle' if row.startswith('middle') else 'top'}_{target}"
            if key not in run.gates:
                raise KeyError(f"gate '{key}' missing from the run's analysis.npz; has {sorted(run.gates)}")
            pair = analysis.fgmu_pair_activation(run.gates[key])
            per_target[target][row] = (inputs, pair)
            numbers[key] = dict(zip(inputs, np.round(pair.mean(axis=0), 4).tolist()))
    return plots.fgmu_boxplots(per_target), numbers


def tsne_of(runs: list[analysis.RunAnalysis], token: str, title: str, seed: int = 0):
    """Fig. 15, 18–21 and the appendix: t-SNE of one saved vector, coloured by genre."""
    run = runs[0]
    if token not in run.tokens:
        raise KeyError(f"token '{token}' missing from the run's analysis.npz; has {sorted(run.tokens)}")
    x = run.tokens[token].reshape(run.tokens[token].shape[0], -1)
    xy = analysis.tsne_embedding(x, seed=seed)
    classes = analysis.primary_label(run.labels)
    score = analysis.cluster_separation(xy, classes)
    fig = plots.tsne_scatter(xy, classes, run.label_names, f"{title}\nsilhouette {score:.3f}")
    return fig, {"silhouette": round(score, 4), "n": int(x.shape[0])}


_DRAW: dict[str, Callable[..., tuple[Any, dict[str, Any]]]] = {
    "final_gmu": final_gmu_activation, "per_genre": activation_per_label, "fgmu": fgmu_activation, "tsne": tsne_of,
}


def draw(spec: FigureSpec, load_run: Callable[[str], analysis.RunAnalysis]) -> Figure:
    """Draw one figure; ``load_run(variant)`` gives the analysis arrays of a Moviescope run."""
    fig, numbers = _DRAW[spec.kind]([load_run(v) for v in spec.runs], **dict(spec.options))
    return Figure(spec, fig, numbers)
