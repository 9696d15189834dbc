"""Opening a frozen reference ``.npz`` (official MuLT's or the authors' outputs): one reader for both.

The files hold plain arrays plus a JSON ``config`` string; nothing is unpickled. What each file must
contain is checked by its own reader (:mod:`bpmult.models.official`, :mod:`bpmult.models.authors`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of ``path``; a one-line error naming the file when it is absent or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such reference file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npz reference file ({err})") from err


def config_json(arrays: dict[str, np.ndarray], path: str | Path) -> Any:
    """The decoded ``config`` entry (a JSON string array)."""
    try:
        return json.loads(str(arrays["config"]))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: key 'config' is not a JSON string ({err})") from err
