"""A restricted unpickler for the pickles the datasets ship (MuLT features, Moviescope, Dai's meta).

``pickle.load`` runs whatever callable a file names, so a file from the internet could run code.
This unpickler resolves only an allow-list of globals: numpy's array/dtype/scalar reconstructors
(under numpy 1.x ``numpy.core`` and 2.x ``numpy._core`` names), plain containers and scalars.
Anything else raises :class:`UnsafePickleError` naming the file and the refused global; nothing of
the refused file is executed.

Python-2 pickles (Moviescope's per-movie features) store byte strings; they are decoded as latin-1,
which is what numpy needs to rebuild array buffers (numpy's own advice for Python-2 pickles).
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import io
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy._core.multiarray as _multiarray
import numpy._core.numeric as _numeric

from bpmult.data.errors import CorruptFileError, MissingFileError, UnsafePickleError

# numpy 2 moved numpy.core to numpy._core; pickles written by numpy 1.x name the old module.
_NUMPY_CORE_RENAMES = {"numpy.core.multiarray": "numpy._core.multiarray",
                       "numpy.core.numeric": "numpy._core.numeric"}

_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): codecs.encode,  # Python 3 writes bytes this way at protocols 0-2
}
_PARSE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                 KeyError, MemoryError, UnicodeDecodeError)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        original = f"{module}.{name}"
        # Python-2 names (__builtin__, copy_reg, ...), mapped as pickle does for protocols < 3; the
        # names do not exist in Python 3, so mapping them unconditionally changes nothing else.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        module = _NUMPY_CORE_RENAMES.get(module, module)
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                self._source, key=original,
                expected="only numpy arrays, numpy scalars and plain containers in a pickle",
                found=f"a reference to the global {original} (refused; the pickle was not loaded)")
        return _ALLOWED[(module, name)]


def _load(handle: BinaryIO, source: str, what: str) -> Any:
    try:
        return _RestrictedUnpickler(handle, source).load()
    except UnsafePickleError:
        raise
    except _PARSE_ERRORS as err:
        raise CorruptFileError(source, expected=f"a complete {what}",
                               found=f"unreadable data ({type(err).__name__}: {err})") from None


def safe_loads(data: bytes, source: str = "<bytes>", what: str = "pickle") -> Any:
    """Unpickle ``data`` with the allow-list; ``source`` names the file in error messages."""
    return _load(io.BytesIO(data), source, what)


def safe_load(path: str | Path, what: str = "pickle file", hint: str | None = None) -> Any:
    """Read the pickle at ``path`` with the allow-list.

    Raises:
        MissingFileError: the file does not exist.
        UnsafePickleError: the pickle names a global outside the allow-list.
        CorruptFileError: the file is truncated or not a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, what, hint)
    with open(path, "rb") as handle:
        return _load(handle, str(path), what)
