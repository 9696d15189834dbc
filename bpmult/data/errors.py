"""Errors of the data layer.

Every error names the file, the key (or line, or id) and what was expected, so that a user who
placed a wrong file by hand can fix it from the message alone. ``bpmult``'s console script prints
these messages instead of a stack trace.
"""

from __future__ import annotations

from pathlib import Path

from bpmult.atomic import DiskFullError, StorageError  # noqa: F401 (re-exported: a full disk while writing data)


def _describe(path: str | Path | None, key: str | None, expected: str | None, found: str | None) -> str:
    parts = [str(path) if path is not None else "<input>"]
    if key is not None:
        parts.append(f"key {key!r}")
    text = ": ".join(parts)
    if expected is not None:
        text += f": expected {expected}"
    if found is not None:
        text += f", found {found}"
    return text


class DataError(ValueError):
    """A source file is present but its content is not what the format promises."""

    def __init__(self, path: str | Path | None, key: str | None = None, expected: str | None = None,
                 found: str | None = None, hint: str | None = None):
        self.path, self.key, self.expected, self.found = path, key, expected, found
        message = _describe(path, key, expected, found)
        super().__init__(message + (f" ({hint})" if hint else ""))


class MissingFileError(FileNotFoundError):
    """A file the format needs is absent; the message says where it was looked for and how to get it."""

    def __init__(self, path: str | Path, what: str, hint: str | None = None):
        self.path = path
        message = f"{path}: missing {what}" + (f"; {hint}" if hint else "")
        super().__init__(message)

    def __str__(self) -> str:  # FileNotFoundError's own __str__ would print "[Errno None] ..."
        return self.args[0]


class CorruptFileError(DataError):
    """The file cannot be parsed at all (truncated, not a pickle/JSON/HDF5, ...)."""


class UnsafePickleError(DataError):
    """A pickle asks for a global outside the allow-list (code execution risk); it was not loaded."""


class ShapeError(DataError):
    """An array has the wrong rank, width or length."""


class NonFiniteError(DataError):
    """An array holds NaN or an infinity where the format allows none."""


class UnknownIdError(DataError):
    """A split or index names an id that the feature files do not contain."""


class LabelError(DataError):
    """A label is outside the canonical label set or not a valid one-hot / binary value."""


class ChecksumError(DataError):
    """A downloaded or hand-placed file does not have the SHA-256 recorded in the lock."""


class FetchError(DataError):
    """A download could not be completed from any mirror (host unreachable, HTTP error, ...)."""

    def __init__(self, path: str | Path, message: str, hint: str | None = None):
        self.path, self.key, self.expected, self.found = path, None, None, message
        ValueError.__init__(self, f"{path}: {message}" + (f" To continue: {hint}." if hint else ""))
