"""The prepared-data format (docs/design.md §1) and its writer.

```
DIR/manifest.json
DIR/<split>/<modality>.npy   float32, first axis = samples (text, video, audio, poster, metadata)
DIR/<split>/text_ids.npy     int64 (N, L) word-piece ids, and text_mask.npy int64 (N, L), instead
                             of text.npy when ``text_features: token_ids`` (BERT fine-tuning)
DIR/<split>/<m>_length.npy   int64 (N,) true steps of a padded modality m (Moviescope's audio)
DIR/<split>/label.npy        multilabel: float32 (N, C) multi-hot; iemocap: int64 (N, 4) in {0, 1}
DIR/<split>/ids.json         upstream id of every row, in row order
```
``PreparedWriter`` builds the whole folder in a staging sibling (``bpmult.atomic.staged_folder``
naming) and renames it into place only when every array has been checked and the manifest is
written, so a failed ``prepare`` never leaves a half-written ``DIR``. The arrays are written
through memory maps whose disk space is reserved first: a full disk is a one-line error, never
SIGBUS. The manifest holds no time stamp, so the same raw data gives the same bytes.
Reading lives in ``bpmult.data.reader`` (re-exported here).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bpmult.atomic import (atomic_write_bytes, atomic_write_json, atomic_write_text, clean_stale_stages,  # noqa: F401
                           disk_full_as_error, json_text, lines_digest, replace_folder, reserve_space, sha256_file,
                           stage_path)
from bpmult.data.arrays import LENGTH_SUFFIX, array_dtype, check_array
from bpmult.data.errors import DataError, ShapeError
from bpmult.data.facts import FACTS, SPLITS
from bpmult.data.reader import (PreparedDataset, collate, load_prepared, make_collate,  # noqa: F401 (re-exported)
                                read_manifest)

FORMAT_VERSION = 2  # 2: no "created", "dtypes" and "lengths" keys, folder digests relative to the folder


class Sources:
    """The SHA-256 of every source file a prepare step read, for ``manifest.json``.

    Single files are listed by path relative to the raw folder; a folder of per-item files (e.g.
    Moviescope's ``200F_VGG16/``) is listed once, as the digest of its sorted
    ``"<path inside the folder> <sha256>"`` lines (``bpmult.atomic.folder_digest``, the digest
    ``bpmult fetch`` records) and the number of files.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._files: dict[str, str] = {}
        self._groups: dict[str, dict[str, str]] = {}

    def _relative(self, path: Path, base: Path | None = None) -> str:
        try:
            return Path(path).relative_to(base or self.root).as_posix()
        except ValueError:
            return str(path)

    def add(self, path: str | Path, digest: str | None = None) -> None:
        self._files[self._relative(Path(path))] = digest or sha256_file(path)

    def add_to_group(self, group: str, path: str | Path, digest: str) -> None:
        self._groups.setdefault(group.rstrip("/"), {})[self._relative(Path(path), self.root / group)] = digest

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
            out[group + "/"] = {"files": len(files), "sha256": lines_digest(files)}
        return out


def check_target(raw: str | Path, out: str | Path) -> None:
    """Refuse an ``out`` that would destroy something: the raw folder itself, a folder inside it or
    holding it, a file, or a non-empty folder that is not an earlier prepared output."""
    raw_real, out_real = Path(raw).resolve(), Path(out).resolve()
    if out_real == raw_real or raw_real in out_real.parents or out_real in raw_real.parents:
        relation = ("is" if out_real == raw_real else "lies inside" if raw_real in out_real.parents
                    else "contains")
        raise DataError(out, key="--out", expected="a folder apart from the raw folder",
                        found=f"it {relation} the raw folder {raw}; refusing to replace it")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(out, key="--out", expected="a folder (absent, empty, or an earlier prepared output)",
                        found="a file; refusing to replace it")
    if out.is_dir() and any(out.iterdir()):
        manifest = out / "manifest.json"
        try:
            record = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None
        except (OSError, ValueError):
            record = None
        if not (isinstance(record, dict) and "format_version" in record and "dataset" in record):
            raise DataError(out, key="--out", expected="an absent or empty folder, or an earlier prepared output "
                            "(with its manifest.json)", found="other files; refusing to replace them")


def _allocate(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.memmap:
    """A zero-filled ``.npy`` memory map whose disk blocks are reserved before any write."""
    with disk_full_as_error(path):
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        with open(path, "r+b") as handle:
            reserve_space(handle, path, path.stat().st_size)
    return array


class PreparedWriter:
    """Builds a prepared-data folder in a staging directory; ``close`` renames it to ``out``.

    Use as a context manager: on an exception (or Ctrl-C) the staging directory is removed and
    ``out`` is left as it was (absent, or the previous complete version).
    """

    def __init__(self, out: str | Path, *, dataset: str, task: str, label_names: Sequence[str]):
        self.out = Path(out)
        self.dataset, self.task, self.label_names = dataset, task, list(label_names)
        self._splits: dict[str, dict[str, Any]] = {}
        self._modalities: dict[str, list[int]] = {}
        self._lengths: dict[str, str] = {}
        self._arrays: list[np.memmap] = []
        self._manifest_written = False
        clean_stale_stages(self.out.parent, self.out.name)  # leftovers of killed runs (DVC ignores them)
        self._new_parent = not self.out.parent.exists()
        self.stage = stage_path(self.out)

    @classmethod
    def of(cls, out: str | Path, dataset: str) -> "PreparedWriter":
        """The writer of ``dataset`` with its task and label order from ``bpmult.data.facts``."""
        facts = FACTS[dataset]
        return cls(out, dataset=facts.name, task=facts.task, label_names=facts.label_names)

    def __enter__(self) -> "PreparedWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
            return
        self.close()

    def add_split(self, split: str, ids: Sequence[str | int], shapes: Mapping[str, Sequence[int]],
                  label_shape: Sequence[int], label_dtype: Any = None, *, source: str | Path | None = None,
                  lengths: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Allocate the arrays of one split (zero filled) and write its ids; returns writable arrays
        keyed by modality, ``"label"`` and ``"<m>_length"`` for each modality ``m`` in ``lengths``.

        ``source``: the raw file the split comes from (named when the split is empty)."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {SPLITS}")
        n = len(ids)
        if n == 0:
            raise DataError(source or self.out / split, key=split, expected="at least one sample in every split",
                            found="an empty split")
        folder = self.stage / split
        folder.mkdir()
        arrays: dict[str, np.ndarray] = {}
        for name, shape in shapes.items():
            shape = [int(s) for s in shape]
            if self._modalities.setdefault(name, shape) != shape:
                raise ShapeError(folder / f"{name}.npy", key=name, expected=f"{self._modalities[name]} per sample "
                                 "in every split", found=str(shape))
            arrays[name] = _allocate(folder / f"{name}.npy", array_dtype(name, self.task), (n, *shape))
        for name in lengths:
            self._lengths[name] = name + LENGTH_SUFFIX
            arrays[name + LENGTH_SUFFIX] = _allocate(folder / f"{name}{LENGTH_SUFFIX}.npy", np.dtype(np.int64), (n,))
        dtype = np.dtype(label_dtype) if label_dtype is not None else array_dtype("label", self.task)
        arrays["label"] = _allocate(folder / "label.npy", dtype, (n, *label_shape))
        self._arrays.extend(arrays.values())
        with disk_full_as_error(folder / "ids.json"):
            (folder / "ids.json").write_text(json.dumps([i if isinstance(i, int) else str(i) for i in ids]) + "\n")
        self._splits[split] = {"n": n, "arrays": arrays}
        return arrays

    def _check(self, vocab_size: int | None) -> None:
        for split, info in self._splits.items():
            for name, array in info["arrays"].items():
                limit = None
                if name.endswith(LENGTH_SUFFIX):
                    limit = self._modalities[name[: -len(LENGTH_SUFFIX)]][0]
                elif name == "text_ids":
                    limit = vocab_size
                check_array(array, self.stage / split / f"{name}.npy", name, self.task, limit=limit)

    def write_manifest(self, *, text_encoder: Mapping[str, Any], sources: Mapping[str, Any], synthetic: Any,
                       config: Mapping[str, Any], notes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Check and flush the arrays, then write ``manifest.json``; ``synthetic`` is False or the
        generator's record."""
        with disk_full_as_error(self.stage):
            for array in self._arrays:
                array.flush()
        self._check(text_encoder.get("vocab_size"))
        splits = {}
        for split, info in self._splits.items():
            labels = np.asarray(info["arrays"]["label"])
            counts = [int(round(c)) for c in labels.sum(axis=0).tolist()] if labels.ndim == 2 else []
            splits[split] = {"n": info["n"], "label_counts": counts}
        names = [*self._modalities, *self._lengths.values(), "label"]
        first = next(iter(self._splits.values()))["arrays"]
        manifest = {
            "format_version": FORMAT_VERSION,
            "dataset": self.dataset,
            "task": self.task,
            "label_names": self.label_names,
            "splits": splits,
            "modalities": self._modalities,
            "dtypes": {name: str(first[name].dtype) for name in names},
            "lengths": dict(self._lengths),
            "text_encoder": dict(text_encoder),
            "synthetic": bool(synthetic),
            "synthetic_generator": synthetic or None,
            "sources": dict(sources),
            "config": dict(config),
            "notes": dict(notes or {}),
        }
        with disk_full_as_error(self.stage / "manifest.json"):
            (self.stage / "manifest.json").write_text(json_text(manifest))
        self._manifest_written = True
        return manifest

    def close(self) -> None:
        """Rename the staging directory to ``out`` (replacing an older complete version)."""
        if not self._manifest_written:
            self.discard()
            raise RuntimeError(f"{self.out}: write_manifest() was not called; nothing was written")
        self._arrays.clear()
        with disk_full_as_error(self.out):
            replace_folder(self.stage, self.out)

    def discard(self) -> None:
        """Remove the staging folder (and the parent folder when this writer created it)."""
        self._arrays.clear()
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._new_parent:
            with contextlib.suppress(OSError):  # not empty: something else lives there now
                self.out.parent.rmdir()
