"""The prepared-data format (docs/design.md §1): writing it atomically, reading it lazily.

```
DIR/manifest.json
DIR/<split>/<modality>.npy   float32, first axis = samples (text, video, audio, poster, metadata)
DIR/<split>/label.npy        multilabel: float32 (N, C) multi-hot; iemocap: int64 (N, 4) in {0, 1}
DIR/<split>/ids.json         upstream id of every row, in row order
```
``PreparedWriter`` builds the whole folder in a hidden sibling and renames it into place only
when the manifest is written, so a failed ``prepare`` never leaves a half-written ``DIR``. Readers
memory-map the arrays, so real-size data (Moviescope video: 16 GB) need not fit in memory.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from bpmult.atomic import atomic_write_bytes, atomic_write_text  # noqa: F401 (re-exported)
from bpmult.data.errors import CorruptFileError, MissingFileError, ShapeError

SPLITS = ("train", "dev", "test")
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# atomic writes and digests


def atomic_write_json(path: str | Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=1, sort_keys=False) + "\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class Sources:
    """The SHA-256 of every source file a prepare step read, for ``manifest.json``.

    Single files are listed by path relative to the raw folder; a folder of per-item files (e.g.
    Moviescope's ``200F_VGG16/``) is listed once, as the digest of its sorted
    ``"<relative path> <sha256>"`` lines and the number of files.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._files: dict[str, str] = {}
        self._groups: dict[str, dict[str, str]] = {}

    def _relative(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def add(self, path: str | Path, digest: str | None = None) -> None:
        self._files[self._relative(Path(path))] = digest or sha256_file(path)

    def add_to_group(self, group: str, path: str | Path, digest: str) -> None:
        self._groups.setdefault(group, {})[self._relative(Path(path))] = digest

    def read_bytes(self, path: str | Path, group: str | None = None) -> bytes:
        """Read a whole file, recording its digest (alone, or in ``group``)."""
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if group is None:
            self.add(path, digest)
        else:
            self.add_to_group(group, path, digest)
        return data

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(sorted(self._files.items()))
        for group, files in sorted(self._groups.items()):
            lines = "\n".join(f"{name} {digest}" for name, digest in sorted(files.items()))
            out[group.rstrip("/") + "/"] = {"files": len(files), "sha256": hashlib.sha256(lines.encode()).hexdigest()}
        return out


# ---------------------------------------------------------------------------------------------
# writing


class PreparedWriter:
    """Builds a prepared-data folder in a staging directory; ``close`` renames it to ``out``.

    Use as a context manager: on an exception the staging directory is removed and ``out`` is left
    as it was (absent, or the previous complete version).
    """

    def __init__(self, out: str | Path, *, dataset: str, task: str, label_names: Sequence[str]):
        self.out = Path(out)
        self.dataset, self.task, self.label_names = dataset, task, list(label_names)
        self._splits: dict[str, dict[str, Any]] = {}
        self._modalities: dict[str, list[int]] = {}
        self._arrays: list[np.memmap] = []
        self._manifest_written = False
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.staging-", dir=self.out.parent))

    def __enter__(self) -> "PreparedWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
            return
        self.close()

    def add_split(self, split: str, ids: Sequence[str | int], shapes: Mapping[str, Sequence[int]],
                  label_shape: Sequence[int], label_dtype: Any = np.float32) -> dict[str, np.ndarray]:
        """Allocate the arrays of one split (zero filled) and write its ids; returns writable arrays
        keyed by modality and ``"label"``."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {SPLITS}")
        n = len(ids)
        folder = self.stage / split
        folder.mkdir()
        arrays: dict[str, np.ndarray] = {}
        for name, shape in shapes.items():
            shape = [int(s) for s in shape]
            if self._modalities.setdefault(name, shape) != shape:
                raise ShapeError(folder / f"{name}.npy", key=name, expected=f"{self._modalities[name]} per sample "
                                 "in every split", found=str(shape))
            arrays[name] = np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=np.float32,
                                                     shape=(n, *shape))
        arrays["label"] = np.lib.format.open_memmap(folder / "label.npy", mode="w+", dtype=label_dtype,
                                                    shape=(n, *label_shape))
        self._arrays.extend(arrays.values())
        (folder / "ids.json").write_text(json.dumps([i if isinstance(i, int) else str(i) for i in ids]) + "\n")
        self._splits[split] = {"n": n, "arrays": arrays}
        return arrays

    def write_manifest(self, *, text_encoder: Mapping[str, Any], sources: Mapping[str, Any], synthetic: Any,
                       config: Mapping[str, Any], notes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Flush the arrays and write ``manifest.json``; ``synthetic`` is False or the generator's record."""
        splits = {}
        for split, info in self._splits.items():
            info["arrays"]["label"].flush()
            labels = np.asarray(info["arrays"]["label"])
            counts = [int(round(c)) for c in labels.sum(axis=0).tolist()] if labels.ndim == 2 else []
            splits[split] = {"n": info["n"], "label_counts": counts}
        for array in self._arrays:
            array.flush()
        manifest = {
            "format_version": FORMAT_VERSION,
            "dataset": self.dataset,
            "task": self.task,
            "label_names": self.label_names,
            "splits": splits,
            "modalities": self._modalities,
            "text_encoder": dict(text_encoder),
            "synthetic": bool(synthetic),
            "synthetic_generator": synthetic or None,
            "sources": dict(sources),
            "config": dict(config),
            "notes": dict(notes or {}),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (self.stage / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        self._manifest_written = True
        return manifest

    def close(self) -> None:
        """Rename the staging directory to ``out`` (replacing an older complete version)."""
        if not self._manifest_written:
            self.discard()
            raise RuntimeError(f"{self.out}: write_manifest() was not called; nothing was written")
        self._arrays.clear()
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        os.replace(self.stage, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        self._arrays.clear()
        shutil.rmtree(self.stage, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# reading


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a prepared-data folder."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise MissingFileError(path, "prepared-data manifest", hint="run `bpmult prepare DATASET --raw ... --out DIR` first")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(path, expected="a JSON manifest", found=str(err)) from None
    for key in ("dataset", "task", "label_names", "splits", "modalities"):
        if key not in manifest:
            raise CorruptFileError(path, key=key, expected="a prepared-data manifest with this key", found="none")
    return manifest


class PreparedDataset(Dataset):
    """One split of a prepared-data folder; items are dicts of tensors (modalities and ``label``).

    Attributes:
        manifest: the folder's manifest; ``ids``: upstream ids in row order; ``modalities``: the
        modality names; ``arrays``: the memory-mapped arrays keyed like the items.
    """

    def __init__(self, directory: str | Path, split: str):
        directory = Path(directory)
        self.manifest = read_manifest(directory)
        if split not in self.manifest["splits"]:
            raise MissingFileError(directory / split, f"split {split!r}",
                                   hint=f"the manifest lists {sorted(self.manifest['splits'])}")
        self.split = split
        self.modalities = list(self.manifest["modalities"])
        n = self.manifest["splits"][split]["n"]
        self.arrays: dict[str, np.ndarray] = {}
        for name in [*self.modalities, "label"]:
            path = directory / split / f"{name}.npy"
            if not path.is_file():
                raise MissingFileError(path, f"array of {name!r}")
            array = np.load(path, mmap_mode="r")
            expected = [n, *self.manifest["modalities"][name]] if name != "label" else [n]
            if list(array.shape[: len(expected)]) != expected or (name != "label" and array.ndim != len(expected)):
                raise ShapeError(path, key=name, expected=f"shape {tuple(expected)} (from manifest.json)",
                                 found=str(tuple(array.shape)))
            self.arrays[name] = array
        ids_path = directory / split / "ids.json"
        if not ids_path.is_file():
            raise MissingFileError(ids_path, "row ids")
        self.ids = json.loads(ids_path.read_text())
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


def load_prepared(directory: str | Path, split: str) -> PreparedDataset:
    """The ``split`` (train, dev or test) of the prepared-data folder ``directory`` as a Dataset."""
    return PreparedDataset(directory, split)


def collate(items: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack a list of items into a batch (sequences are fixed length, so no padding is needed)."""
    if not items:
        raise ValueError("collate: expected at least one item")
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}
