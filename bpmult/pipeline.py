"""The report stages (tables, figures, report) as functions the notebooks and ``bpmult report`` call;
data and train stages live in :mod:`bpmult.stages`.

Each reads the active profile from ``params.yaml`` and passes explicit arguments (paths, profile
name, synthetic flag, seeds) to :mod:`bpmult.report`, which never reads params itself. Imports are
all at the top, so the stages' dependency probe (tests/stages/test_stage_deps.py) sees them; the
diagrams build models, so the report stages depend on the model code too (cheap reruns).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from bpmult.errors import debug_requested, report_errors
from bpmult.experiment import from_manifest
from bpmult.paramsfile import load_params
from bpmult.report.claims_page import write_claims
from bpmult.data.reader import load_prepared, make_collate
from bpmult.report.diagrams import SHOWN_VARIANTS, diagrams_html
from bpmult.report.gallery import FigureBook
from bpmult.report.index import write_index
from bpmult.report.pages import profile_statement
from bpmult.report.tables import write_tables
from bpmult.stages.paths import REPORT_DESCRIPTION, report_arguments
from bpmult.stages.paths import active_profile, data_source, is_synthetic, use_repo_root  # noqa: F401 (notebooks call it)


def banner(params: dict[str, Any]) -> str:
    profile = active_profile(params)
    section = params[profile]
    return profile_statement(profile, is_synthetic(section), list(section["seeds"]), data_source(section))


def tables_stage(*, runs_dir: str, prepared_dir: str, params_path: str, tables_json_path: str):
    """Compare every paper table with our runs; write the comparison as JSON for ``dvc metrics``."""
    return write_tables(runs_dir=Path(runs_dir), prepared_dir=Path(prepared_dir),
                        tables_json_path=Path(tables_json_path), banner_html=banner(load_params(params_path)))


def figures_stage(*, runs_dir: str, prepared_dir: str, figures_dir: str, params_path: str):
    """The figures notebook's :class:`bpmult.report.gallery.FigureBook` under the active profile."""
    params = load_params(params_path)
    profile = active_profile(params)
    return FigureBook(runs_dir=runs_dir, prepared_dir=prepared_dir, figures_dir=figures_dir, profile=profile,
                      synthetic=is_synthetic(params[profile]), seeds=list(params[profile]["seeds"]),
                      source=data_source(params[profile]))


def diagram_models(prepared_dir: Path, params: dict[str, Any]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The models the diagrams show, built as training builds them, each with an example batch.

    Moviescope at its prepared dimensions under the active profile (TVAP setting), fed its first two
    test samples; empty when Moviescope is not prepared.
    """
    manifest_path = Path(prepared_dir) / "moviescope" / "manifest.json"
    if not manifest_path.is_file():
        return {}
    manifest = json.loads(manifest_path.read_text())
    profile = active_profile(params)
    # two real test samples, collated as training collates them: word-piece ids must be real ids
    # (random floats index outside BERT's vocabulary) and cropped spectrograms keep their rule
    test = load_prepared(Path(prepared_dir) / "moviescope", "test", validate=False)
    batch = make_collate(manifest)([test[i] for i in range(min(2, len(test)))])
    models = {}
    for variant in SHOWN_VARIANTS:
        torch.manual_seed(0)
        models[variant] = (from_manifest(manifest, "moviescope", variant, params, profile).build_model(), batch)
    return models


def report_stage(*, reports_dir: str | Path, prepared_dir: str | Path, runs_dir: str | Path,
                 params_path: str | Path = "params.yaml", claims_json_path: str | Path = "metrics/claims.json") -> Path:
    """Write ``reports/claims.html``, ``metrics/claims.json`` and ``reports/index.html``."""
    params = load_params(params_path)
    profile = active_profile(params)
    section = params[profile]
    synthetic, seeds, source = is_synthetic(section), list(section["seeds"]), data_source(section)
    claims = write_claims(runs_dir=Path(runs_dir), html_path=Path(reports_dir) / "claims.html",
                          json_path=Path(claims_json_path), profile=profile, synthetic=synthetic, seeds=seeds,
                          source=source)
    return write_index(reports_dir=Path(reports_dir), prepared_dir=Path(prepared_dir), runs_dir=Path(runs_dir),
                       profile=profile, synthetic=synthetic, seeds=seeds, source=source,
                       diagrams_html=diagrams_html(diagram_models(Path(prepared_dir), params)), claims=claims)


def run_report(args: argparse.Namespace) -> int:
    """The report stage for parsed :func:`~bpmult.stages.paths.report_arguments`."""
    report_stage(reports_dir=args.reports, prepared_dir=args.prepared, runs_dir=args.runs,
                 params_path=args.params, claims_json_path=args.claims)
    print(f"wrote {Path(args.reports) / 'index.html'}, {Path(args.reports) / 'claims.html'} and {args.claims}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bpmult.pipeline --reports ... --runs ...``: the report stage as ``dvc.yaml`` runs it
    (the same as ``bpmult report``, with every module it needs imported up front)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bpmult report", description=REPORT_DESCRIPTION)
    report_arguments(parser)
    args = parser.parse_args([a for a in argv if a != "--debug"])
    return report_errors("bpmult report", lambda: run_report(args), debug=debug_requested(argv))


if __name__ == "__main__":
    sys.exit(main())
