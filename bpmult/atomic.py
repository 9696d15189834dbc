"""The package's one I/O module: atomic writes, staged folders, folder digests, tree copies.

* **Atomic files** (bytes, text, JSON in the one format of :func:`json_text`, ``.npz``). A write goes to a temporary file in the target's folder, is flushed and
  fsync-ed, then renamed over the target (``os.replace``); the folder is fsync-ed so the rename
  itself is durable. A process killed at any moment leaves the old file or the new one.
* **Staged folders.** :func:`staged_folder` builds a whole folder in a sibling named
  ``.bpmult-staging-<name>.<pid>.<random>`` and renames it into place at the end. A process that
  is killed leaves that sibling behind; :func:`clean_stale_stages` (called by every new stage)
  removes those whose process is gone. The prefix is listed in ``.dvcignore``, so DVC never
  counts a leftover as part of an output or a dependency.
* **Folder digests.** :func:`folder_digest`: the SHA-256 of the sorted ``"<relative path> <sha256>"``
  lines of every file under a folder (directory symlinks followed), the one definition used by
  ``bpmult fetch`` and by prepared manifests.
* **Tree copies.** :func:`copy_tree` / :func:`link_tree` mirror a folder, following directory
  symlinks (``Path.rglob`` does not on Python 3.11-3.13, so a hand-placed folder reached through
  a link would be silently dropped).
* **A full disk** (``ENOSPC``/``EDQUOT``) becomes :class:`DiskFullError`, one line naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

STAGING_PREFIX = ".bpmult-staging-"   # listed in .dvcignore; never a name a user would choose
_FULL = (errno.ENOSPC, errno.EDQUOT)


class StorageError(RuntimeError):
    """A file could not be written or read for a reason outside the data (disk, permissions)."""


class DiskFullError(StorageError):
    """The file system of ``path`` has no space left; the message names the path and the need."""

    def __init__(self, path: str | Path, needed: int | None = None, free: int | None = None):
        self.path = path
        detail = f" (needs {_size(needed)}, {_size(free)} free)" if needed is not None and free is not None else ""
        super().__init__(f"{path}: no space left on the device{detail}; free some space and run again "
                         "(nothing was replaced)")


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in _FULL


@contextlib.contextmanager
def disk_full_as_error(path: str | Path) -> Iterator[None]:
    """Turn ``ENOSPC``/``EDQUOT`` inside the block into :class:`DiskFullError` naming ``path``
    (or the file the OS error names)."""
    try:
        yield
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(err.filename or path) from None
        raise


def reserve_space(handle: io.BufferedRandom | int, path: str | Path, nbytes: int) -> None:
    """Allocate ``nbytes`` for the open file ``handle`` now, so that later writes through a memory
    map cannot hit a full disk (the kernel would answer those with SIGBUS, killing the process
    without a message). Where the file system cannot preallocate, the free space is compared."""
    fd = handle if isinstance(handle, int) else handle.fileno()
    try:
        os.posix_fallocate(fd, 0, max(int(nbytes), 1))
        return
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(path, nbytes, shutil.disk_usage(Path(path).parent).free) from None
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    except AttributeError:  # no posix_fallocate on this platform
        pass
    free = shutil.disk_usage(Path(path).parent).free
    if free < nbytes:
        raise DiskFullError(path, nbytes, free)


# ---------------------------------------------------------------------------------------------
# atomic files


def _fsync_folder(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some file systems refuse fsync on folders; the data itself is synced
        pass


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Call ``write(handle)`` on a temporary binary file, then move it to ``path``."""
    path = Path(path)
    with disk_full_as_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    _fsync_folder(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays as numbers and lists, paths as strings, tuples as
    lists; non-finite floats become ``None`` (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def json_text(value: Any) -> str:
    """The package's one JSON format: strict JSON of :func:`to_jsonable`, indent 2, keys in
    insertion order, a final newline."""
    return json.dumps(to_jsonable(value), indent=2, allow_nan=False) + "\n"


def atomic_write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as JSON (:func:`json_text`) to ``path`` atomically."""
    return atomic_write_text(path, json_text(value))


def atomic_savez(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write a ``.npz`` archive atomically (readable with ``allow_pickle=False``)."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise ValueError(f"{path}: array {name!r} has dtype object; store numbers or strings")
    return atomic_write(path, lambda handle: np.savez(handle, **arrays))


# ---------------------------------------------------------------------------------------------
# digests


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def iter_files(root: str | Path, *, follow_symlinks: bool = True) -> Iterator[tuple[str, Path]]:
    """``(relative posix path, path)`` of every file under ``root``, sorted, following directory
    symlinks (each real folder once, so a link loop ends) unless ``follow_symlinks`` is False.
    Staging folders (:data:`STAGING_PREFIX`) are skipped."""
    root = Path(root)
    seen: set[tuple[int, int]] = set()
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root, followlinks=follow_symlinks):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs[:] = [d for d in dirs if not d.startswith(STAGING_PREFIX)]  # half-built folders are never data
        for name in files:
            path = Path(folder) / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return iter(sorted(found))


def lines_digest(entries: Mapping[str, str]) -> str:
    """SHA-256 of the sorted ``"<relative path> <sha256>"`` lines of ``entries``."""
    lines = "\n".join(f"{name} {digest}" for name, digest in sorted(entries.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def folder_digest(path: str | Path) -> str:
    """The digest of a folder (:func:`lines_digest` of its files) or of a file (its SHA-256)."""
    path = Path(path)
    if path.is_dir():
        return lines_digest({name: sha256_file(file) for name, file in iter_files(path)})
    return sha256_file(path)


# ---------------------------------------------------------------------------------------------
# staged folders


def _stage_pid(name: str) -> int | None:
    try:
        return int(name[len(STAGING_PREFIX):].rsplit(".", 2)[-2])
    except (ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_stages(parent: str | Path, name: str | None = None) -> list[Path]:
    """Remove the staging folders in ``parent`` left by processes that no longer run; returns them.

    With ``name``, also the older names this package gave the stages of ``parent/name``
    (``.<name>.staging-*``, ``.<name>.old-<pid>``); other hidden folders are never touched."""
    parent = Path(parent)
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        label = entry.name
        if label.startswith(STAGING_PREFIX):
            pid = _stage_pid(label)
            stale = pid is None or not _alive(pid)
        elif name is not None and label.startswith(f".{name}.staging-"):
            stale = True  # the older naming carried no process id; no older version runs beside this one
        elif name is not None and label.startswith(f".{name}.old-"):
            pid_text = label[len(f".{name}.old-"):]
            stale = not pid_text.isdigit() or not _alive(int(pid_text))
        else:
            stale = False
        if stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def stage_path(out: str | Path, tag: str = "") -> Path:
    """A fresh staging folder next to ``out`` (created)."""
    out = Path(out)
    name = f"{STAGING_PREFIX}{out.name}{tag}.{os.getpid()}.{secrets.token_hex(4)}"
    with disk_full_as_error(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
        (out.parent / name).mkdir()
    return out.parent / name


def replace_folder(stage: Path, out: Path) -> None:
    """Move the complete folder ``stage`` to ``out``, replacing an older ``out`` (moved aside
    first, under a staging name, then deleted)."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.parent / f"{STAGING_PREFIX}{out.name}-old.{os.getpid()}.{secrets.token_hex(4)}"
        os.replace(out, old)
    os.replace(stage, out)
    _fsync_folder(out.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield a staging folder; when the block ends normally it replaces ``out``, otherwise it is
    deleted and ``out`` is left as it was. Stale stages next to ``out`` are removed first."""
    out = Path(out)
    clean_stale_stages(out.parent, out.name)
    new_parent = not out.parent.exists()
    stage = stage_path(out)
    try:
        with disk_full_as_error(stage):
            yield stage
        replace_folder(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if new_parent:
            with contextlib.suppress(OSError):  # not empty: something else lives there now
                out.parent.rmdir()
        raise


# ---------------------------------------------------------------------------------------------
# tree copies


def copy_tree(src: str | Path, dst: str | Path, *, follow_symlinks: bool = True, link: bool = False,
              exclude: Callable[[str], bool] | None = None) -> int:
    """Mirror every file under ``src`` into ``dst`` (created; existing files replaced); returns the
    number of files. Directory symlinks are followed unless ``follow_symlinks`` is False; file
    symlinks are resolved to their target's content. ``link``: hard links where possible (same
    file system), copies elsewhere. ``exclude(relative path)``: files to leave out (e.g.
    ``bpmult.data.fetch.is_partial`` for unfinished downloads); staging folders are always left out."""
    src, dst = Path(src), Path(dst)
    count = 0
    with disk_full_as_error(dst):
        dst.mkdir(parents=True, exist_ok=True)
        for name, path in iter_files(src, follow_symlinks=follow_symlinks):
            if exclude is not None and exclude(name):
                continue
            target = dst / name
            target.parent.mkdir(parents=True, exist_ok=True)
            real = path.resolve()
            if target.exists() or target.is_symlink():
                target.unlink()
            if link:
                try:
                    os.link(real, target)
                except OSError as err:
                    if is_disk_full(err):
                        raise
                    shutil.copy2(real, target)
            else:
                shutil.copy2(real, target)
            count += 1
    return count


def link_tree(src: str | Path, dst: str | Path, *, follow_symlinks: bool = True,
              exclude: Callable[[str], bool] | None = None) -> int:
    """:func:`copy_tree` with hard links (copies across file systems)."""
    return copy_tree(src, dst, follow_symlinks=follow_symlinks, link=True, exclude=exclude)
