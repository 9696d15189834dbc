"""What each DVC stage does, as plain functions the notebooks and commands call.

Stages (``dvc.yaml``): ``raw`` (synthetic data in the embedded profiles, real files in the paper
profile) → ``prepare`` → ``train`` (one per dataset × variant, seeds inside, via
``notebooks/train.ipynb``) → ``tables`` → ``figures`` → ``report``. Each function reads the active
profile from ``params.yaml`` itself, so the one switch ``profile`` changes the whole run.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpmult import report

SYNTHETIC_PROFILES = ("embedded", "smoke")


def use_repo_root(start: str | Path | None = None) -> Path:
    """Change to the repository root (the nearest folder up with ``dvc.yaml``) and return it.

    The notebooks' default paths are relative to the root; Papermill already runs there, Jupyter
    Lab starts a notebook's kernel in ``notebooks/``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            os.chdir(folder)
            return folder
    raise FileNotFoundError(f"{here}: no dvc.yaml here or above; run the notebook inside the bpmult repository")


def load_params(params_path: str | Path = "params.yaml") -> dict[str, Any]:
    from bpmult import profiles

    return profiles.load_params(params_path)


def active_profile(params: dict[str, Any]) -> str:
    profile = params.get("profile")
    if profile not in params:
        raise ValueError(f"params: profile '{profile}' has no section; valid profiles: "
                         f"{[k for k, v in params.items() if isinstance(v, dict) and 'seeds' in v]}")
    return profile


def is_synthetic(profile: str) -> bool:
    return profile in SYNTHETIC_PROFILES


def banner(params: dict[str, Any]) -> str:
    profile = active_profile(params)
    return report.profile_statement(profile, is_synthetic(profile), list(params[profile]["seeds"]))


# ----------------------------------------------------------------------------- data

DOWNLOADS = Path("data/downloads")  # fetched files persist here, outside DVC outputs (no re-download)
MANUAL = Path("data/manual")        # hand-placed files (versioned by data.dvc)
TEXT_CACHE = Path(".cache/text")    # content-addressed text-encoder cache (encoder id + text hash)


def raw_stage(source: str, out: Path, params_path: str | Path = "params.yaml") -> None:
    """Write the raw files of ``source`` (moviescope, mmimdb, iemocap, mosei) into ``out``.

    Synthetic profiles generate them with :func:`bpmult.data.synthesize` (the real upstream
    formats); the paper profile fetches the real files into ``data/downloads`` (verified against
    the committed SHA-256 lock) and hard-links them into ``out``.
    """
    params = load_params(params_path)
    profile = active_profile(params)
    data = params[profile].get("data", {})
    if is_synthetic(profile):
        from bpmult.data import synthesize

        sizes = data.get("synth_size", {})
        synthesize(source, out, seed=int(data.get("synth_seed", 0)), size=sizes.get(source))
        return
    from bpmult.data.fetch import fetch_sources, read_lock
    from bpmult.data.registry import FETCH_TARGETS

    if source not in FETCH_TARGETS:
        raise ValueError(f"raw source {source!r}: expected one of {sorted(FETCH_TARGETS)}")
    # one raw folder per source; Moviescope has two (full features by hand, or the authors' demo
    # subset): `paper.data.raw_folder.moviescope: moviescope_demo` picks the demo
    folder = data.get("raw_folder", {}).get(source, source)
    if folder not in FETCH_TARGETS[source]:
        raise ValueError(f"params {profile}.data.raw_folder.{source}: {folder!r}; expected one of "
                         f"{sorted(FETCH_TARGETS[source])}")
    fetched = fetch_sources(folder, FETCH_TARGETS[source][folder], out=DOWNLOADS, manual=MANUAL, lock=read_lock(),
                            progress=False)
    print("\n".join(fetched.lines))
    _link_tree(DOWNLOADS / folder, Path(out))


def _link_tree(src: Path, dst: Path) -> None:
    """Mirror ``src`` into ``dst`` with hard links (copies across file systems)."""
    for path in src.rglob("*"):
        if path.is_dir():
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        real = path.resolve()
        try:
            os.link(real, target)
        except OSError:
            shutil.copy2(real, target)


def prepare_stage(dataset: str, raw: Path, out: Path, params_path: str | Path = "params.yaml") -> dict[str, Any]:
    """Prepare ``dataset`` from its raw folder with the profile's text encoder; returns the manifest."""
    from bpmult.data.registry import prepare, resolve_config

    params = load_params(params_path)
    profile = active_profile(params)
    encoder = params[profile].get("data", {}).get("text_encoder")
    config, _ = resolve_config(raw, text_encoder=encoder)
    return prepare(dataset, raw, out, config=config, cache_dir=TEXT_CACHE)


# ----------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What the train notebook shows: the run's summary, per-seed metrics and histories."""

    run_dir: Path
    summary: dict[str, Any]
    banner_html: str
    selection_metric: str

    def seed_dirs(self) -> list[Path]:
        return sorted(self.run_dir.glob("seed_*"), key=lambda p: int(p.name.split("_")[1]))

    def histories(self) -> dict[str, Any]:
        import pandas as pd

        return {p.name: pd.read_csv(p / "history.csv") for p in self.seed_dirs()}

    def curves_figure(self):
        import matplotlib.pyplot as plt

        from bpmult import plots

        histories = self.histories()
        metric = next((c for c in next(iter(histories.values())).columns
                       if c == f"dev_{self.selection_metric}"), None) or "dev_loss"
        fig = plots.training_curves(histories, metric)
        plt.close(fig)  # shown once, as the cell's value
        return fig

    def metrics_frame(self):
        import pandas as pd

        rows = []
        for split in ("test", "dev"):
            for key, entry in self.summary.get(split, {}).items():
                if isinstance(entry, dict) and "mean" in entry:
                    rows.append({"split": split, "metric": key, "mean": entry["mean"], "std": entry.get("std"),
                                 "n seeds": entry.get("n")})
        return pd.DataFrame(rows).round(2)

    def per_seed_frame(self):
        import pandas as pd

        rows = []
        for p in self.seed_dirs():
            m = json.loads((p / "metrics.json").read_text())
            rows.append({"seed": p.name, "best epoch": m.get("best_epoch"), "train seconds": m.get("train_seconds"),
                         **{f"test {k}": v for k, v in m.get("test", {}).items() if isinstance(v, (int, float))}})
        return pd.DataFrame(rows).round(2)


def train_stage(*, dataset: str, variant: str, modalities: str, data_dir: str, run_dir: str,
                metrics_path: str, curves_dir: str, params_path: str = "params.yaml") -> TrainResult:
    """Train one (dataset, variant) over the profile's seeds; copy its summary and curves out.

    The summary goes to ``metrics_path`` (small, in git, ``dvc metrics``) and each seed's history
    to ``curves_dir/seed_<s>.csv`` (``dvc plots``).
    """
    from bpmult import train

    params = load_params(params_path)
    profile = active_profile(params)
    run = Path(run_dir)
    # a fresh run: DVC removes a stage's outputs before running it, and a hand-run notebook must not
    # reuse results trained on other data (`bpmult train --resume` continues a killed run)
    summary = train.train_seeds(data_dir, variant, run, profile=profile, params=params, dataset=dataset,
                                modalities=modalities, resume=False, progress=False)
    report.write_text_atomic(Path(metrics_path), json.dumps(summary, indent=2, sort_keys=True))
    curves = Path(curves_dir)
    if curves.exists():
        shutil.rmtree(curves)
    curves.mkdir(parents=True)
    for seed_dir in run.glob("seed_*"):
        shutil.copyfile(seed_dir / "history.csv", curves / f"{seed_dir.name}.csv")
    return TrainResult(run, summary, banner(params), train.selection_metric(dataset))


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
