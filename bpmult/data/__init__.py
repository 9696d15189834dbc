"""Data layer: fetch the real datasets, write synthetic ones in the same formats, prepare both.

Python API (the contract of docs/design.md §1)::

    from bpmult.data import load_prepared, collate, read_manifest
    train = load_prepared("data/prepared/mosei", "train")   # a torch Dataset of dicts
"""

from bpmult.data.config import DataConfig
from bpmult.data.errors import (ChecksumError, CorruptFileError, DataError, FetchError, LabelError, MissingFileError,
                                NonFiniteError, ShapeError, UnknownIdError, UnsafePickleError)
from bpmult.data.prepared import PreparedDataset, collate, load_prepared, read_manifest
from bpmult.data.registry import DATASETS, prepare
from bpmult.data.synthetic import synthesize

__all__ = ["DATASETS", "ChecksumError", "CorruptFileError", "DataConfig", "DataError", "FetchError", "LabelError",
           "MissingFileError", "NonFiniteError", "PreparedDataset", "ShapeError", "UnknownIdError",
           "UnsafePickleError", "collate", "load_prepared", "prepare", "read_manifest", "synthesize"]
