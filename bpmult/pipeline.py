"""The report stages (tables, figures) as functions the notebooks call; data and train stages
live in :mod:`bpmult.stages`."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpmult import report
from bpmult.paramsfile import load_params
from bpmult.stages.paths import active_profile, is_synthetic, use_repo_root  # noqa: F401 (notebooks call it)


def banner(params: dict[str, Any]) -> str:
    profile = active_profile(params)
    return report.profile_statement(profile, is_synthetic(params[profile]), list(params[profile]["seeds"]))


# ----------------------------------------------------------------------------- tables


@dataclass
class TablesResult:
    runs_dir: Path
    prepared_dir: Path
    banner_html: str

    def html(self, key: str) -> str:
        table = report.load_paper_results()[key]
        return (f"<h3>{html.escape(table['title'])}</h3>"
                + report.table_html(table, report.compare_table(table, self.runs_dir, self.prepared_dir)))


def tables_stage(*, runs_dir: str, prepared_dir: str, params_path: str, tables_json_path: str) -> TablesResult:
    """Compare every paper table with our runs; write the comparison as JSON for ``dvc metrics``."""
    params = load_params(params_path)
    data = report.tables_json(Path(runs_dir), Path(prepared_dir))
    report.write_text_atomic(Path(tables_json_path), json.dumps(_flat_tables(data), indent=2, sort_keys=True))
    return TablesResult(Path(runs_dir), Path(prepared_dir), banner(params))


def _flat_tables(data: dict[str, Any]) -> dict[str, Any]:
    """Our measured cells only, keyed table/run/metric (what ``dvc metrics show`` lists)."""
    flat: dict[str, Any] = {}
    for table, rows in data.items():
        for row in rows:
            if row["source"] not in ("ours", "prior"):
                continue
            name = row["run"] or "label_prior"
            for key, cell in row["cells"].items():
                if cell["ours"] is not None:
                    flat.setdefault(table, {}).setdefault(name, {})[key] = round(cell["ours"], 3)
    return flat


# ----------------------------------------------------------------------------- figures


class FigureStage:
    """Draws every analysis figure of the report from the Moviescope runs."""

    def __init__(self, *, runs_dir: str, prepared_dir: str, figures_dir: str, params_path: str):
        self.runs = Path(runs_dir)
        self.prepared = Path(prepared_dir) / "moviescope"
        self.out = Path(figures_dir)
        self.params = load_params(params_path)
        self.banner_html = banner(self.params)
        self.index: list[dict[str, Any]] = []
        self._cache: dict[str, Any] = {}

    def _run(self, variant: str):
        from bpmult import figures

        if variant not in self._cache:
            self._cache[variant] = figures.load(self.runs / report.run_name("moviescope", variant), self.prepared)
        return self._cache[variant]

    def build(self, name: str) -> list:
        from bpmult import figures as F

        act = F.ACTIVATION_LABELS
        if name == "gate_activation_per_modality":
            fig = F.final_gmu_activation({"MuLT-GMU": self._run("mult_gmu"), "BPMuLT": self._run("bpmult")})
            return [F.named(fig, name, f"Reproduces paper Fig. 12: final-GMU activation per input on the "
                                       f"Moviescope test set, MuLT-GMU (left) beside BPMuLT (right). Bars: "
                                       f"{act['mean_z']} per input, averaged over test samples (error bars: std "
                                       f"over samples).")]
        if name == "gate_activation_per_genre_mult_gmu":
            fig = F.activation_per_label(self._run("mult_gmu"), "MuLT-GMU")
            return [F.named(fig, name, f"Reproduces paper Fig. 13: MuLT-GMU final-GMU activation per genre "
                                       f"({act['share_above']}, averaged over the test movies of each genre).")]
        if name == "gate_activation_per_genre_bpmult":
            fig = F.activation_per_label(self._run("bpmult"), "BPMuLT")
            return [F.named(fig, name, f"Reproduces paper Fig. 14: BPMuLT final-GMU activation per genre "
                                       f"({act['share_above']}, averaged over the test movies of each genre).")]
        if name == "gate_activation_all_transformers":
            fig = F.final_gmu_activation({"BPMuLT-all-transformers": self._run("bpmult_all_transformers")})
            return [F.named(fig, name, f"Reproduces paper Fig. 8: final-GMU activation per input of the "
                                       f"all-transformers ablation (12 CT tokens + poster); {act['mean_z']}.")]
        if name == "fgmu_activation_boxplots":
            fig = F.fgmu_activation(self._run("bpmult"))
            return [F.named(fig, name, "Reproduces paper Fig. 16: per test sample, the mean weight each "
                                       "middle FGMU (row 1) and top FGMU (row 2) gives its two inputs (z for the "
                                       "first, 1 − z for the second), per target modality L, V, A (columns).")]
        if name == "tsne_final_gmu_text":
            fig = F.tsne_of(self._run("bpmult"), "gmu_part_L", "BPMuLT final GMU, text part")
            return [F.named(fig, name, "Reproduces paper Fig. 15: t-SNE of the final GMU's text-part output "
                                       "z_L ⊙ tanh(W_L H'_L) on the test set, each movie coloured by its rarest "
                                       "genre (the data are multi-label); silhouette score in the title.")]
        if name == "tsne_ct_tokens":
            out = []
            for token, paper_fig in [("A->V", "18"), ("(A->V)->L", "19"), ("V->A", "20"), ("(V->A)->L", "21")]:
                stem = "tsne_ct_" + token.replace("(", "").replace(")", "").replace("->", "_to_")
                fig = F.tsne_of(self._run("bpmult"), token, f"BPMuLT CT output {token}")
                out.append(F.named(fig, stem, f"Reproduces paper Fig. {paper_fig}: t-SNE of the crossmodal "
                                              f"transformer output {token} (its token) on the test set, coloured by "
                                              f"rarest genre; silhouette score in the title."))
            return out
        if name == "tsne_final_gmu_other_modalities":
            out = []
            run = self._run("bpmult")
            for part, label in [("gmu_part_V", "video"), ("gmu_part_A", "audio"), ("gmu_part_poster", "poster")]:
                fig = F.tsne_of(run, part, f"BPMuLT final GMU, {label} part")
                out.append(F.named(fig, f"tsne_final_gmu_{label}", f"Reproduces the paper's appendix t-SNE "
                                                                   f"figures: the final GMU's {label}-part output on "
                                                                   f"the test set, coloured by rarest genre."))
            return out
        raise KeyError(f"unknown figure '{name}'")

    def show(self, name: str) -> None:
        """Build, save and display one figure (or group) with its caption and numbers."""
        import matplotlib.pyplot as plt
        from IPython.display import HTML, Image, display

        for fig in self.build(name):
            path = fig.save(self.out)
            self.index.append({"name": fig.name, "file": path.name, "caption": fig.caption, "numbers": fig.numbers})
            self._write_index()
            plt.close(fig.figure)
            display(Image(filename=str(path)))
            display(HTML(f"<p><i>{html.escape(fig.caption)}</i></p>"
                         f"<details><summary>the numbers behind the figure</summary>{_numbers_table(fig.numbers)}"
                         "</details>"))

    def _write_index(self) -> None:
        report.write_text_atomic(self.out / "index.json", json.dumps(self.index, indent=2))


def _numbers_table(numbers: dict[str, Any]) -> str:
    """A figure's numbers as an HTML table: rows = groups (model, genre, gate), columns = inputs."""
    import pandas as pd

    nested = all(isinstance(v, dict) for v in numbers.values())
    frame = pd.DataFrame(numbers).T if nested else pd.DataFrame([numbers])
    return frame.to_html(float_format=lambda x: f"{x:.3f}", na_rep="—")
