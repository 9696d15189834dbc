"""Data layer: fetch the real datasets, write synthetic ones in the same formats, prepare both.

Python API (the contract of docs/design.md §1)::

    from bpmult.data import load_prepared, make_collate, read_manifest
    train = load_prepared("data/prepared/mosei", "train")   # a torch Dataset of dicts, checked
    batches = DataLoader(train, batch_size=8, collate_fn=make_collate(train.manifest))
"""

from bpmult.data.config import DataConfig
from bpmult.data.errors import (ChecksumError, CorruptFileError, DataError, DiskFullError, FetchError, LabelError,
                                MissingFileError, NonFiniteError, ShapeError, UnknownIdError, UnsafePickleError)
from bpmult.data.facts import FACTS, DatasetFacts
from bpmult.data.reader import PreparedDataset, collate, load_prepared, make_collate, read_manifest
# registry.fetch is not re-exported: bpmult.data.fetch names the module (fetch_sources, read_lock)
from bpmult.data.registry import DATASETS, prepare, synthesize

__all__ = ["DATASETS", "FACTS", "ChecksumError", "CorruptFileError", "DataConfig", "DataError", "DatasetFacts",
           "DiskFullError", "FetchError", "LabelError", "MissingFileError", "NonFiniteError", "PreparedDataset",
           "ShapeError", "UnknownIdError", "UnsafePickleError", "collate", "load_prepared", "make_collate", "prepare",
           "read_manifest", "synthesize"]
