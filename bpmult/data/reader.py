"""Reading the prepared-data format (``bpmult.data.prepared``): manifest, splits, batches.

Arrays are memory-mapped, so real-size data (Moviescope video: 16 GB) need not fit in memory.
``load_prepared`` checks, before any training starts, what ``prepare`` checked when it wrote the
folder (dtypes, shapes, finite values, label values; ``bpmult.data.arrays``), so a file damaged
or edited since is refused with its path instead of surfacing as NaN losses after an epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from bpmult.data.arrays import LENGTH_SUFFIX, array_dtype, check_array
from bpmult.data.errors import CorruptFileError, DataError, MissingFileError, ShapeError

CROP_RULES = ("pad_longest", "batch_shortest")
# files whose values were checked in this process, by (path, inode, size, mtime): the five seeds of
# a stage load the same splits, and a real-size split takes a full read to check
_CHECKED: set[tuple] = set()


def _identity(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns


def _unchecked(path: Path) -> bool:
    return _identity(path) not in _CHECKED


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(path, expected=f"{what} in JSON", found=f"invalid JSON ({err})") from None
    except OSError as err:
        raise DataError(path, expected=f"a readable {what}", found=err.strerror or type(err).__name__) from None


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a prepared-data folder."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise MissingFileError(path, "prepared-data manifest",
                               hint="run `bpmult prepare DATASET --raw ... --out DIR` first")
    manifest = _json(path, "a prepared-data manifest")
    if not isinstance(manifest, dict):
        raise CorruptFileError(path, expected="a JSON object", found=type(manifest).__name__)
    for key in ("dataset", "task", "label_names", "splits", "modalities"):
        if key not in manifest:
            raise CorruptFileError(path, key=key, expected="a prepared-data manifest with this key", found="none")
    return manifest


def load_array(path: Path, what: str) -> np.ndarray:
    """A memory-mapped ``.npy`` file, or a one-line error naming it (absent, unreadable, not .npy)."""
    if not path.is_file():
        raise MissingFileError(path, what)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except PermissionError as err:
        raise DataError(path, expected=f"a readable {what}", found=err.strerror) from None
    except (ValueError, OSError, EOFError) as err:
        detail = str(err).splitlines()[0][:120] if str(err) else ""
        found = "an empty file" if path.stat().st_size == 0 else f"{type(err).__name__}: {detail}"
        raise CorruptFileError(path, expected=f"a .npy array ({what})", found=found,
                               hint="prepare the dataset again") from None


class PreparedDataset(Dataset):
    """One split of a prepared-data folder; items are dicts of tensors (modalities, ``label`` and,
    where the manifest lists them, ``<modality>_length``).

    Attributes:
        manifest: the folder's manifest; ``ids``: upstream ids in row order; ``modalities``: the
        modality names; ``arrays``: the memory-mapped arrays keyed like the items.
    """

    def __init__(self, directory: str | Path, split: str, *, validate: bool = True):
        directory = Path(directory)
        self.manifest = read_manifest(directory)
        if split not in self.manifest["splits"]:
            raise MissingFileError(directory / split, f"split {split!r}",
                                   hint=f"the manifest lists {sorted(self.manifest['splits'])}")
        self.split = split
        self.modalities = list(self.manifest["modalities"])
        task = self.manifest["task"]
        n = self.manifest["splits"][split]["n"]
        lengths = dict(self.manifest.get("lengths") or {})
        dtypes = self.manifest.get("dtypes") or {}
        self.arrays: dict[str, np.ndarray] = {}
        for name in [*self.modalities, *lengths.values(), "label"]:
            path = directory / split / f"{name}.npy"
            array = load_array(path, f"array of {name!r}")
            if name in self.manifest["modalities"]:
                expected = [n, *self.manifest["modalities"][name]]
            else:
                expected = [n]
            exact = name != "label"
            if list(array.shape[: len(expected)]) != expected or (exact and array.ndim != len(expected)):
                raise ShapeError(path, key=name, expected=f"shape {tuple(expected)} (from manifest.json)",
                                 found=str(tuple(array.shape)))
            wanted = np.dtype(dtypes.get(name, array_dtype(name, task)))
            if array.dtype != wanted:
                raise ShapeError(path, key=name, expected=f"dtype {wanted} (from manifest.json)",
                                 found=f"dtype {array.dtype}")
            if validate and _unchecked(path):
                limit = None
                if name.endswith(LENGTH_SUFFIX):
                    limit = self.manifest["modalities"][name[: -len(LENGTH_SUFFIX)]][0]
                elif name == "text_ids":
                    limit = (self.manifest.get("text_encoder") or {}).get("vocab_size")
                check_array(array, path, name, task, limit=limit)
                _CHECKED.add(_identity(path))
            self.arrays[name] = array
        ids_path = directory / split / "ids.json"
        if not ids_path.is_file():
            raise MissingFileError(ids_path, "row ids")
        self.ids = _json(ids_path, "a list of row ids")
        if not isinstance(self.ids, list):
            raise CorruptFileError(ids_path, expected="a JSON list of row ids", found=type(self.ids).__name__)
        if len(self.ids) != n:
            raise ShapeError(ids_path, expected=f"{n} ids", found=str(len(self.ids)))

    @property
    def label_names(self) -> list[str]:
        return self.manifest["label_names"]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # np.array copies the memory-mapped row, so the tensor owns writable memory
        return {name: torch.from_numpy(np.array(array[index])) for name, array in self.arrays.items()}


def load_prepared(directory: str | Path, split: str, *, validate: bool = True) -> PreparedDataset:
    """The ``split`` (train, dev or test) of the prepared-data folder ``directory`` as a Dataset.

    ``validate``: check every value (finite inputs, labels in range) now, reading the split once;
    False only checks shapes and dtypes (for a folder checked moments ago)."""
    return PreparedDataset(directory, split, validate=validate)


def collate(items: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack a list of items into a batch (sequences are stored padded, so no padding is needed)."""
    if not items:
        raise ValueError("collate: expected at least one item")
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def make_collate(manifest: Mapping[str, Any], rule: str | None = None) -> Callable[[Sequence[Mapping]], dict]:
    """The collate function of a prepared dataset under a length ``rule``.

    ``pad_longest``: sequences stay padded to the longest sample of the dataset (= :func:`collate`).
    ``batch_shortest``: every modality with stored true lengths (manifest ``lengths``; Moviescope's
    audio) is cropped to the shortest true length in the batch, as the BPMuLT authors crop each
    batch of spectrograms to its shortest trailer. Default: the manifest's
    ``config.moviescope_audio_crop``, else ``pad_longest``.
    """
    rule = rule or (manifest.get("config") or {}).get("moviescope_audio_crop") or "pad_longest"
    if rule not in CROP_RULES:
        raise ValueError(f"make_collate: rule {rule!r}: expected one of {CROP_RULES}")
    cropped = dict(manifest.get("lengths") or {}) if rule == "batch_shortest" else {}

    def collate_batch(items: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        batch = collate(items)
        for modality, key in cropped.items():
            steps = int(batch[key].min())
            batch[modality] = batch[modality][:, :steps].contiguous()
            batch[key] = batch[key].clamp(max=steps)
        return batch

    collate_batch.rule = rule  # type: ignore[attr-defined]
    return collate_batch
