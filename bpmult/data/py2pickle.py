"""Write pickles byte-for-byte in the style of Python 2 + numpy 1.x (protocol 2).

Moviescope's per-movie features were written by Python 2 (its readers need
``pickle.load(f, encoding='bytes')``). Python 3 cannot produce such files with ``pickle.dump``: it
writes ``bytes`` through ``_codecs.encode`` and names ``numpy._core``. The synthetic data must take
the same path through the reader as the real files, so this module emits the opcodes a Python 2
interpreter emits: ``numpy.core.multiarray._reconstruct``, dtype args ``('f4', 0, 1)`` and the
array buffer as a Python-2 ``str`` (``BINSTRING``).

Supported values: numpy arrays of numeric dtype, dict, list, tuple, str (ASCII), int, float, bool,
None — what the Moviescope files and their id maps hold.
"""

from __future__ import annotations

import pickle as op  # opcode constants only
import struct
from pathlib import Path
from typing import Any

import numpy as np


def _str(value: bytes) -> bytes:  # a Python-2 str
    if len(value) < 256:
        return op.SHORT_BINSTRING + bytes([len(value)]) + value
    return op.BINSTRING + struct.pack("<i", len(value)) + value


def _int(value: int) -> bytes:
    if 0 <= value < 256:
        return op.BININT1 + bytes([value])
    if 0 <= value < 65536:
        return op.BININT2 + struct.pack("<H", value)
    if -(2 ** 31) <= value < 2 ** 31:
        return op.BININT + struct.pack("<i", value)
    raise ValueError(f"integer {value} does not fit the Python-2 writer")


def _global(module: str, name: str) -> bytes:
    return op.GLOBAL + f"{module}\n{name}\n".encode("ascii")


def _array(value: np.ndarray) -> bytes:
    value = np.ascontiguousarray(value)
    if value.dtype.kind not in "biuf":
        raise ValueError(f"dtype {value.dtype} is not supported by the Python-2 writer")
    dtype = value.dtype.newbyteorder("<") if value.dtype.byteorder == ">" else value.dtype
    code = f"{dtype.kind}{dtype.itemsize}".encode("ascii")
    order = b"|" if dtype.itemsize == 1 else b"<"
    out = _global("numpy.core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
    out += _int(0) + op.TUPLE1 + _str(b"b") + op.TUPLE3 + op.REDUCE
    out += op.MARK + _int(1) + _value(tuple(int(n) for n in value.shape))
    out += _global("numpy", "dtype") + _str(code) + _int(0) + _int(1) + op.TUPLE3 + op.REDUCE
    # dtype state as numpy 1.x writes it: (version, byte order, subarray, names, fields, elsize, alignment, flags)
    out += (op.MARK + _int(3) + _str(order) + op.NONE + op.NONE + op.NONE
            + _int(-1) + _int(-1) + _int(0) + op.TUPLE + op.BUILD)
    out += op.NEWFALSE + _str(value.astype(dtype, copy=False).tobytes()) + op.TUPLE + op.BUILD
    return out


def _value(value: Any) -> bytes:
    if isinstance(value, np.ndarray):
        return _array(value)
    if value is None:
        return op.NONE
    if isinstance(value, bool):
        return op.NEWTRUE if value else op.NEWFALSE
    if isinstance(value, (int, np.integer)):
        return _int(int(value))
    if isinstance(value, (float, np.floating)):
        return op.BINFLOAT + struct.pack(">d", float(value))
    if isinstance(value, str):
        return _str(value.encode("ascii"))
    if isinstance(value, tuple):
        return op.MARK + b"".join(_value(v) for v in value) + op.TUPLE
    if isinstance(value, list):
        return op.EMPTY_LIST + op.MARK + b"".join(_value(v) for v in value) + op.APPENDS
    if isinstance(value, dict):
        items = b"".join(_value(k) + _value(v) for k, v in value.items())
        return op.EMPTY_DICT + op.MARK + items + op.SETITEMS
    raise ValueError(f"{type(value).__name__} is not supported by the Python-2 writer")


def dumps(value: Any) -> bytes:
    """The protocol-2 pickle of ``value`` as Python 2 with numpy 1.x would write it."""
    return op.PROTO + b"\x02" + _value(value) + op.STOP


def dump(value: Any, path: str | Path) -> None:
    Path(path).write_bytes(dumps(value))
