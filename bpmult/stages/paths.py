"""Where the pipeline keeps things, and which profile is active: the only module that knows.

Everything is relative to the repository root (the folder with ``dvc.yaml``). A DVC experiment
run in a temporary copy (``dvc exp run --temp`` / ``--queue``) has no git-ignored files, so the
fetched downloads and the text cache are looked up in ``BPMULT_DATA_ROOT`` when it is set, else
in the repository the copy was made from (the folder holding ``.dvc/tmp/exps/``), else here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bpmult.paramsfile import load_params

PARAMS = Path("params.yaml")
MANUAL = Path("data/manual")        # hand-placed files (data/manual/<raw folder>: deps of the raw stages)
RAW = Path("data/raw")
PREPARED = Path("data/prepared")
RUNS = Path("runs")
METRICS = Path("metrics")
CURVES = Path("curves")
REPORTS = Path("reports")


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


EXPERIMENT_DIR = (".dvc", "tmp", "exps")
"""Where DVC runs temporary and queued experiments: ``<repo>/.dvc/tmp/exps/[standalone/]tmpXXXX``."""


def _main_checkout(here: Path) -> Path | None:
    """The checkout a DVC temporary experiment in ``here`` was copied from, or None.

    Only the path tells: DVC's executor folder is a fresh git repository of its own (``git init``
    plus fetched refs), so git names no other checkout (its common dir is the executor's own).
    """
    parts = here.parts
    for i in range(len(parts) - len(EXPERIMENT_DIR), 0, -1):
        if parts[i:i + len(EXPERIMENT_DIR)] == EXPERIMENT_DIR:
            return Path(*parts[:i])
    return None


def data_root() -> Path:
    """The folder that holds ``data/downloads`` and ``.cache`` for this run (see the module notes)."""
    env = os.environ.get("BPMULT_DATA_ROOT")
    if env:
        return Path(env)
    main = _main_checkout(Path.cwd().resolve())
    return main if main is not None else Path(".")


def downloads() -> Path:
    """Fetched files persist here, outside DVC outputs (no re-download)."""
    return data_root() / "data" / "downloads"


def text_cache() -> Path:
    """The content-addressed text-encoder cache (encoder id + text hash)."""
    return data_root() / ".cache" / "text"


def active_profile(params: dict[str, Any]) -> str:
    """The name of the active profile; a one-line error when it has no section."""
    profile = params.get("profile")
    if not isinstance(profile, str) or not isinstance(params.get(profile), dict):
        valid = [k for k, v in params.items() if isinstance(v, dict) and "seeds" in v]
        raise ValueError(f"params.yaml: profile {profile!r} has no section; valid profiles: {valid}")
    return profile


def data_source(section: dict[str, Any]) -> str:
    """A profile's ``data.source``: ``synth`` or ``fetch`` (the default)."""
    return (section.get("data") or {}).get("source", "fetch")


def is_synthetic(section: dict[str, Any]) -> bool:
    """Whether a profile's numbers come from synthetic data: ``data.synthetic``, else ``source: synth``."""
    data = section.get("data") or {}
    return bool(data.get("synthetic", data.get("source", "fetch") == "synth"))


def profile_settings(params_path: str | Path = PARAMS) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(params, active profile name, that profile's section)."""
    params = load_params(params_path)
    profile = active_profile(params)
    return params, profile, params[profile]


REPORT_DESCRIPTION = ("write reports/index.html (headline, claims, every table and figure) and the claims check "
                      "(reports/claims.html, metrics/claims.json)")


def report_arguments(p: argparse.ArgumentParser) -> None:
    """The report stage's options, shared by ``bpmult report`` and ``python -m bpmult.pipeline``."""
    p.add_argument("--reports", default=str(REPORTS), help="the reports folder")
    p.add_argument("--prepared", default=str(PREPARED), help="the prepared-data folder")
    p.add_argument("--runs", default=str(RUNS), help="the runs folder, or a folder of <run>.json summaries")
    p.add_argument("--params", default=str(PARAMS), help="params file")
    p.add_argument("--claims", default=str(METRICS / "claims.json"), help="the claims JSON to write")
