"""The figures notebook's engine: draw each entry of ``FIGURES``, save it, show it with its numbers.

The stage layer builds a :class:`FigureBook` with explicit paths and the profile; every figure
saved is also listed in ``<figures_dir>/index.json`` (file, paper figure, caption, numbers), which
the index page reads back.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from bpmult.report import analysis
from bpmult.report.figures import BY_FILE, DATASET, FIGURES, Figure, draw, load
from bpmult.report.pages import notebook_header, profile_statement, write_text_atomic
from bpmult.report.runs import run_name


class FigureBook:
    """Draws the report's analysis figures from the Moviescope runs under ``runs_dir``."""

    def __init__(self, *, runs_dir: str | Path, prepared_dir: str | Path, figures_dir: str | Path,
                 profile: str, synthetic: bool, seeds: list[int], source: str = "synth"):
        self.runs = Path(runs_dir)
        self.prepared = Path(prepared_dir) / DATASET
        self.out = Path(figures_dir)
        self.profile, self.synthetic = profile, synthetic
        self.banner_html = notebook_header(profile_statement(profile, synthetic, list(seeds), source))
        self.index: list[dict[str, Any]] = []
        self._cache: dict[str, analysis.RunAnalysis] = {}

    def run(self, variant: str) -> analysis.RunAnalysis:
        """The analysis arrays of the first seed of ``moviescope-<variant>`` (read once)."""
        if variant not in self._cache:
            self._cache[variant] = load(self.runs / run_name(DATASET, variant), self.prepared)
        return self._cache[variant]

    def build(self, file: str) -> Figure:
        if file not in BY_FILE:
            raise KeyError(f"unknown figure '{file}'; known: {', '.join(s.file for s in FIGURES)}")
        return draw(BY_FILE[file], self.run)

    def save(self, file: str) -> tuple[Figure, Path]:
        """Draw and save one figure, and list it in ``index.json``."""
        import matplotlib.pyplot as plt

        fig = self.build(file)
        path = fig.save(self.out, self.profile if self.synthetic else None)
        plt.close(fig.figure)
        self.index = [e for e in self.index if e["name"] != fig.name]
        self.index.append({"name": fig.name, "file": path.name, "paper_figure": fig.spec.paper_figure,
                           "caption": fig.caption, "numbers": fig.numbers})
        write_text_atomic(self.out / "index.json", json.dumps(self.index, indent=2))
        return fig, path

    def show(self, file: str) -> None:
        """Save one figure and display it with its caption and the numbers behind it."""
        from IPython.display import HTML, Image, display

        fig, path = self.save(file)
        display(Image(filename=str(path)))
        display(HTML(f"<p><i>{html.escape(fig.caption)}</i></p>"
                     f"<details><summary>the numbers behind the figure</summary>{numbers_table(fig.numbers)}"
                     "</details>"))


def numbers_table(numbers: dict[str, Any]) -> str:
    """A figure's numbers as an HTML table: rows = groups (model, genre, gate), columns = inputs."""
    import pandas as pd

    nested = all(isinstance(v, dict) for v in numbers.values())
    frame = pd.DataFrame(numbers).T if nested else pd.DataFrame([numbers])
    return frame.to_html(float_format=lambda x: f"{x:.3f}", na_rep="—")
