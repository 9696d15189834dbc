"""What each DVC stage does, as plain functions the notebooks and commands call.

Stages (``dvc.yaml``): ``raw`` (synthetic data in the embedded profiles, real files in the paper
profile) → ``prepare`` → ``train`` (one per dataset × variant, seeds inside, via
``notebooks/train.ipynb``) → ``tables`` → ``figures`` → ``report``. Each function reads the active
profile from ``params.yaml`` itself, so the one switch ``profile`` changes the whole run.
"""

from __future__ import annotations

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

        from bpmult.report import plots

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


# ----------------------------------------------------------------------------- tables, figures, report
# (the report package takes explicit arguments; these read params.yaml and pass them on)


def tables_stage(*, runs_dir: str, prepared_dir: str, params_path: str, tables_json_path: str):
    """Compare every paper table with our runs; write the comparison as JSON for ``dvc metrics``."""
    from bpmult.report.tables import write_tables

    return write_tables(runs_dir=Path(runs_dir), prepared_dir=Path(prepared_dir),
                        tables_json_path=Path(tables_json_path), banner_html=banner(load_params(params_path)))


def figures_stage(*, runs_dir: str, prepared_dir: str, figures_dir: str, params_path: str):
    """The figures notebook's :class:`bpmult.report.gallery.FigureBook` under the active profile."""
    from bpmult.report.gallery import FigureBook

    params = load_params(params_path)
    profile = active_profile(params)
    return FigureBook(runs_dir=runs_dir, prepared_dir=prepared_dir, figures_dir=figures_dir, profile=profile,
                      synthetic=is_synthetic(profile), seeds=list(params[profile]["seeds"]))


def diagram_models(prepared_dir: Path, params: dict[str, Any]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The models the diagrams show, built as training builds them, with an example batch each.

    Moviescope at its prepared dimensions under the active profile (TVAP setting); empty when
    Moviescope is not prepared.
    """
    import torch

    from bpmult import profiles, train  # deferred: torch and the models, only for this stage
    from bpmult.report.diagrams import SHOWN_VARIANTS, example_batch

    manifest_path = Path(prepared_dir) / "moviescope" / "manifest.json"
    if not manifest_path.is_file():
        return {}
    manifest = json.loads(manifest_path.read_text())
    profile = active_profile(params)
    _, extras = train.resolve_modalities(manifest, None)
    batch = example_batch(manifest)
    models = {}
    for variant in SHOWN_VARIANTS:
        resolved = profiles.resolve(params, "moviescope", variant, profile=profile)
        torch.manual_seed(0)
        model, _ = train.registry_model(variant, {**train.model_inputs(manifest, "moviescope", extras),
                                                  **resolved.model_overrides})
        models[variant] = (model, batch)
    return models


def report_stage(*, reports_dir: str | Path, prepared_dir: str | Path, runs_dir: str | Path,
                 params_path: str | Path = "params.yaml", claims_json_path: str | Path = "metrics/claims.json") -> Path:
    """Write ``reports/claims.html``, ``metrics/claims.json`` and ``reports/index.html``."""
    from bpmult.report.claims_page import write_claims
    from bpmult.report.diagrams import diagrams_html
    from bpmult.report.index import write_index

    params = load_params(params_path)
    profile = active_profile(params)
    synthetic, seeds = is_synthetic(profile), list(params[profile]["seeds"])
    claims = write_claims(runs_dir=Path(runs_dir), html_path=Path(reports_dir) / "claims.html",
                          json_path=Path(claims_json_path), profile=profile, synthetic=synthetic, seeds=seeds)
    return write_index(reports_dir=Path(reports_dir), prepared_dir=Path(prepared_dir), runs_dir=Path(runs_dir),
                       profile=profile, synthetic=synthetic, seeds=seeds,
                       diagrams_html=diagrams_html(diagram_models(Path(prepared_dir), params)), claims=claims)
