"""Reading ``params.yaml``: the one file that holds every profile (no copy to keep in sync).

Kept apart from :mod:`bpmult.experiment.params` (which validates model and training settings and so
imports the models) so that the data stages can read their settings without depending on model code.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path("params.yaml")
# inside the package, a symbolic link to the repository's params.yaml: one file, nothing to sync
PACKAGED_PARAMS = "resources/params.yaml"


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Read the params file.

    Args:
        path: a YAML file; None means ``./params.yaml`` when it exists, else the copy packaged in
            ``bpmult/resources/params.yaml``.

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file is not a mapping with a ``profile`` key.
    """
    if path is None and not DEFAULT_PARAMS.is_file():
        text, where = resources.files("bpmult").joinpath(PACKAGED_PARAMS).read_text(), f"bpmult/{PACKAGED_PARAMS}"
    else:
        where = Path(path if path is not None else DEFAULT_PARAMS)
        if not where.is_file():
            raise FileNotFoundError(f"{where}: params file not found")
        text = where.read_text()
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{where}: not valid YAML{at} ({problem})") from None
    if not isinstance(params, dict) or "profile" not in params:
        raise ValueError(f"{where}: expected a mapping with a top-level 'profile' key")
    return params
