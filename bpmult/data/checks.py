"""Small readers and validators shared by the dataset modules.

Each one raises an error of ``bpmult.data.errors`` that names the file, the key and what was
expected, so every dataset reports bad input the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bpmult.data.errors import CorruptFileError, DataError, MissingFileError, NonFiniteError, ShapeError

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits, with an apostrophe suffix) for GloVe and bag-of-words."""
    return _WORD.findall(text.lower())


def require_file(path: Path, what: str, hint: str | None = None) -> Path:
    if not path.is_file():
        raise MissingFileError(path, what, hint)
    return path


def read_json(path: Path, what: str, data: bytes | None = None) -> Any:
    """The JSON content of ``path`` (or of its already read bytes ``data``)."""
    if data is None:
        require_file(path, what)
        data = path.read_bytes()
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(path, expected=f"{what} in JSON", found=f"invalid JSON ({err})") from None


def decode_text(data: bytes, path: Path | str, key: str | None = None) -> str:
    """``data`` as UTF-8, or a CorruptFileError naming the file and the first bad byte's offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorruptFileError(path, key=key, expected="UTF-8 text",
                               found=f"byte 0x{data[err.start]:02x} at offset {err.start} ({err.reason})") from None


def read_jsonl(path: Path, what: str) -> list[dict]:
    require_file(path, what)
    records = []
    for number, line in enumerate(decode_text(path.read_bytes(), path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorruptFileError(path, key=f"line {number}", expected="one JSON object per line",
                                   found=f"invalid JSON ({err})") from None
        if not isinstance(record, dict):
            raise CorruptFileError(path, key=f"line {number}", expected="a JSON object",
                                   found=type(record).__name__)
        records.append(record)
    return records


def require_key(mapping: Any, key: Any, path: Path | str, expected: str, where: str | None = None) -> Any:
    """``mapping[key]``, or a DataError naming the file, the key (as ``where``, e.g. ``train/vision``)
    and the expected content."""
    name = where or str(key)
    if not isinstance(mapping, Mapping):
        raise DataError(path, key=name, expected=f"a dict holding {expected}", found=type(mapping).__name__)
    if key not in mapping:
        present = ", ".join(map(repr, list(mapping)[:8]))
        raise DataError(path, key=name, expected=expected, found=f"no such key (keys: {present})")
    return mapping[key]


def numeric_array(value: Any, path: Path | str, key: str | None, shape: Sequence[int | None]) -> np.ndarray:
    """``value`` as a float32 array whose shape matches ``shape`` (``None`` = any size).

    Leading singleton axes beyond the expected rank are dropped (Moviescope stores ``(1, 200, 4096)``
    for a ``(200, 4096)`` sequence).
    """
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # a torch tensor (Moviescope demo)
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ShapeError(path, key=key, expected="a numeric array", found=f"dtype {array.dtype}")
    while array.ndim > len(shape) and array.shape[0] == 1:
        array = array[0]
    wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        raise ShapeError(path, key=key, expected=f"shape {wanted}", found=str(tuple(array.shape)))
    return array.astype(np.float32, copy=False)


def check_finite(array: np.ndarray, path: Path | str, key: str | None, neg_inf_to_zero: bool = False) -> int:
    """Raise NonFiniteError on NaN/inf; with ``neg_inf_to_zero`` replace -inf by 0 in place (MuLT's
    rule for COVAREP audio) and return how many were replaced."""
    replaced = 0
    if neg_inf_to_zero:
        negative = np.isneginf(array)
        replaced = int(negative.sum())
        if replaced:
            array[negative] = 0.0
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = array[where]
        allowed = "finite values or -inf" if neg_inf_to_zero else "finite values"
        raise NonFiniteError(path, key=key, expected=allowed,
                             found=f"{value} at index {where} ({int(bad.sum())} such values)")
    return replaced


def fit_length(sequence: np.ndarray, length: int) -> np.ndarray:
    """Truncate a (T, d) sequence to ``length`` steps or zero-pad it at the end."""
    if len(sequence) >= length:
        return sequence[:length]
    out = np.zeros((length, *sequence.shape[1:]), dtype=np.float32)
    out[: len(sequence)] = sequence
    return out
