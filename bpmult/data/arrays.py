"""The rules every prepared array obeys, checked when it is written and again when it is loaded.

``check_array`` reads an array in blocks of rows (a memory map of tens of GB never has to fit in
memory) and raises an error of ``bpmult.data.errors`` naming the file, the row and what was
expected. The rules by array name:

* model inputs (``text``, ``video``, ``audio``, ``poster``, ``metadata``): float32, finite;
* ``label``: multilabel float32 in {0, 1}; iemocap int64 in {0, 1} (one column per emotion);
* ``<modality>_length``: int64, 1 <= length <= the modality's padded steps;
* ``text_ids``: int64 in [0, vocabulary size); ``text_mask``: int64 in {0, 1}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bpmult.data.errors import LabelError, NonFiniteError, ShapeError

BLOCK_BYTES = 64 << 20
INT_ARRAYS = ("text_ids", "text_mask")
LENGTH_SUFFIX = "_length"


def array_dtype(name: str, task: str) -> np.dtype:
    """The dtype of the prepared array ``name`` for ``task``."""
    if name in INT_ARRAYS or name.endswith(LENGTH_SUFFIX) or (name == "label" and task == "iemocap"):
        return np.dtype(np.int64)
    return np.dtype(np.float32)


def _blocks(array: np.ndarray):
    row_bytes = max(int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize, 1)
    step = max(1, BLOCK_BYTES // row_bytes)
    for start in range(0, len(array), step):
        yield start, np.asarray(array[start:start + step])


def _first(mask: np.ndarray, start: int) -> tuple[int, ...]:
    where = tuple(int(i) for i in np.argwhere(mask)[0])
    return (where[0] + start, *where[1:])


def check_array(array: np.ndarray, path: Path | str, name: str, task: str, *, limit: int | None = None) -> None:
    """Raise unless ``array`` (the prepared array ``name``) has its dtype and allowed values.

    ``limit``: for ``<m>_length`` the padded steps of ``m``; for ``text_ids`` the vocabulary size.
    """
    expected = array_dtype(name, task)
    if array.dtype != expected:
        raise ShapeError(path, key=name, expected=f"dtype {expected}", found=f"dtype {array.dtype}")
    for start, block in _blocks(array):
        if expected.kind == "f":
            bad = ~np.isfinite(block)
            if bad.any():
                at = _first(bad, start)
                raise NonFiniteError(path, key=f"{name}[{at[0]}]", expected="finite values",
                                     found=f"{array[at]} at index {at} ({int(bad.sum())} such values in rows "
                                           f"{start}-{start + len(block) - 1})")
        if name == "label" or name == "text_mask":
            bad = (block != 0) & (block != 1)
            if bad.any():
                at = _first(bad, start)
                error = LabelError if name == "label" else ShapeError
                raise error(path, key=f"{name}[{', '.join(map(str, at))}]", expected="values in {0, 1}",
                            found=f"{array[at]}")
        low, high = _range(name, limit)
        if low is not None:
            bad = (block < low) | (block > high)
            if bad.any():
                at = _first(bad, start)
                raise ShapeError(path, key=f"{name}[{at[0]}]", expected=f"values in [{low}, {high}]",
                                 found=f"{array[at]}")


def _range(name: str, limit: int | None) -> tuple[Any, Any]:
    if limit is None:
        return None, None
    if name.endswith(LENGTH_SUFFIX):
        return 1, limit
    if name == "text_ids":
        return 0, limit - 1
    return None, None
