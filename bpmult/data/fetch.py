"""Getting the real datasets: mirrors in order, resumable downloads, SHA-256 checks, hand-placed files.

Each dataset module lists its ``Source`` entries (where a file comes from, mirrors first to last);
``bpmult/resources/fetch_lock.json`` pins what each must be (SHA-256). For every source,
``fetch_sources``:

1. keeps a file already in the raw folder if its digest matches (re-hashing only on a changed size/mtime);
2. else takes the hand-placed ``<manual>/<raw_dir>/<path>``, verifies it and links it in;
3. else downloads it: each mirror in turn, resuming a ``.part`` file with HTTP Range, then verifies
   the digest and renames it into place (``os.replace``); archives are then unpacked.

When the lock has no digest (upstream publishes none), the first digest seen is recorded in
``<out>/fetch_record.json`` and checked from then on (trust on first use); the message says so and
how to pin it in the lock. Offline, the error says that the hosts cannot be reached and which file
to place where.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import os
import shutil
import socket
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

from tqdm import tqdm

from bpmult.atomic import (atomic_write_json, atomic_write_text, clean_stale_stages, disk_full_as_error,
                           folder_digest, is_disk_full, iter_files, sha256_file, stage_path)
from bpmult.data.errors import ChecksumError, CorruptFileError, DataError, FetchError, MissingFileError
from bpmult.data.source import Source

__all__ = ["DigestBook", "FetchReport", "Source", "default_lock_path", "digest_path", "download", "fetch_sources",
           "fingerprint", "read_lock"]

CHUNK = 1 << 20
USER_AGENT = "bpmult-fetch/0.1 (+reproducibility package)"
digest_path = folder_digest  # the one folder digest (bpmult.atomic); kept under its old name
PARTIAL_SUFFIXES = (".part", ".unverified")  # an unfinished or untrusted download, never raw data
RECORD = "fetch_record.json"


def is_partial(relative_path: str) -> bool:
    """Whether a file of a download folder is not raw data (an unfinished or unverified download,
    the fetch record, an unpack marker): pass as ``exclude`` to ``bpmult.atomic.link_tree``."""
    name = relative_path.rsplit("/", 1)[-1]
    return name.endswith(PARTIAL_SUFFIXES) or name == RECORD or (name.startswith(".") and name.endswith(".extracted"))


@dataclass
class FetchReport:
    """What ``fetch_sources`` did, one line per source, and the notices to show."""

    lines: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# lock (committed digests) and record (digests seen first here)


def default_lock_path() -> Path:
    return Path(str(resources.files("bpmult") / "resources" / "fetch_lock.json"))


def _read_json_file(path: Path, what: str, hint: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(path, expected=f"{what} in JSON", found=f"invalid JSON ({err})", hint=hint) from None


def read_lock(path: str | Path | None = None) -> dict[str, str | None]:
    """``"<raw_dir>/<path>" -> sha256 or None`` from the lock file."""
    path = Path(path) if path is not None else default_lock_path()
    if not path.is_file():
        raise MissingFileError(path, "fetch lock (pinned SHA-256 of every source)")
    lock = _read_json_file(path, "the fetch lock", "restore it with `git checkout` or fix the JSON")
    files = lock.get("files") if isinstance(lock, dict) else None
    if not isinstance(files, dict):
        raise CorruptFileError(path, key="files", expected="an object <raw_dir>/<path> -> {sha256, note}",
                               found=type(files).__name__)
    out: dict[str, str | None] = {}
    for key, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else entry
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                       and all(c in "0123456789abcdef" for c in digest)):
            raise CorruptFileError(path, key=f"files.{key}.sha256", expected="null or 64 lower-case hex digits",
                                   found=repr(digest)[:70])
        out[key] = digest
    return out


def fingerprint(path: Path) -> list[int]:
    """Cheap change detector: size and mtime of a file; count, total size and newest mtime of a
    folder (directory symlinks followed)."""
    if path.is_dir():
        stats = [p.stat() for _, p in iter_files(path)]
        return [len(stats), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


class DigestBook:
    """Expected digests: the lock's, else the ones recorded at first sight in ``fetch_record.json``;
    also remembers which files were verified, so unchanged ones are not hashed again."""

    def __init__(self, lock: dict[str, str | None], record_path: Path):
        self.lock, self.record_path = lock, record_path
        self.record: dict[str, dict] = {}
        if record_path.is_file():
            record = _read_json_file(record_path, "the fetch record (digests trusted on first use)",
                                     "fix the JSON, or delete the file to trust every unpinned file afresh")
            if not isinstance(record, dict) or not all(isinstance(e, dict) and isinstance(e.get("sha256"), str)
                                                       for e in record.values()):
                raise CorruptFileError(record_path, expected="an object <raw_dir>/<path> -> {sha256, ...}",
                                       found="other content",
                                       hint="fix it, or delete the file to trust every unpinned file afresh")
            self.record = record

    def expected(self, key: str) -> tuple[str | None, str]:
        if self.lock.get(key):
            return self.lock[key], "the lock"
        if key in self.record:
            return self.record[key]["sha256"], f"{self.record_path} (recorded at first sight)"
        return None, ""

    def verified(self, key: str, path: Path, expected: str) -> bool:
        entry = self.record.get(key, {})
        if entry.get("sha256") == expected and entry.get("fingerprint") == fingerprint(path):
            return True
        return digest_path(path) == expected

    def forget(self, key: str) -> None:
        if self.record.pop(key, None) is not None:
            atomic_write_json(self.record_path, self.record)

    def remember(self, key: str, digest: str, path: Path, origin: str) -> None:
        entry = self.record.get(key, {})
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.record[key] = {"sha256": digest, "fingerprint": fingerprint(path),
                            "origin": origin if entry.get("sha256") != digest else entry.get("origin", origin),
                            "recorded": entry.get("recorded", now) if entry.get("sha256") == digest else now}
        atomic_write_json(self.record_path, self.record)


# ---------------------------------------------------------------------------------------------
# download


class _MirrorFailed(Exception):
    def __init__(self, reason: str, unreachable: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable


def _host(url: str) -> str:
    return urlparse(url).netloc or url


def _get(url: str, part: Path, name: str, progress: bool, timeout: float) -> bool:
    """Download ``url`` into ``part``, continuing from its current size when the server allows;
    returns whether the length was checked (the server sent a Content-Length and it arrived)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (URLs come from the package)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the partial file may be complete
            return False
        raise _MirrorFailed(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise _MirrorFailed(f"cannot connect ({reason})", unreachable=True) from None
    with response:
        if "text/html" in (response.headers.get("Content-Type") or "") and not name.endswith((".html", ".htm")):
            raise _MirrorFailed("the server sent a web page instead of the file (a login, quota or "
                                "confirmation page)")
        content_range = response.headers.get("Content-Range") or ""
        resumed = response.status == 206 and content_range.startswith(f"bytes {offset}-")
        if response.status == 206 and not resumed:
            raise _MirrorFailed(f"answered the range request with {content_range!r}")
        if offset and not resumed:  # the server ignored the Range header: start again
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else None
        with open(part, "ab" if resumed else "wb") as handle, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not progress, file=sys.stderr, leave=False) as bar:
            try:
                while block := response.read(CHUNK):
                    handle.write(block)
                    bar.update(len(block))
            except (socket.timeout, ConnectionError, OSError, http.client.HTTPException) as err:
                if is_disk_full(err):  # not the server's fault: reported as a full disk
                    raise
                raise _MirrorFailed(f"connection lost after {handle.tell()} bytes ({err}); run again to resume",
                                    unreachable=True) from None
    if total is not None and part.stat().st_size != total:
        raise _MirrorFailed(f"incomplete: {part.stat().st_size} of {total} bytes; run again to resume")
    return total is not None


def download(urls: Sequence[str], target: Path, expected_sha256: str | None, *, manual_hint: str = "",
             progress: bool = True, timeout: float = 60.0) -> str:
    """Download ``target`` from the first mirror that works and return its SHA-256.

    A partial ``<target>.part`` is resumed with an HTTP Range request. The file is renamed into
    place only after its digest matches ``expected_sha256`` (when given).

    Without a pinned digest, a download is accepted only when the server sent its length and all
    of it arrived; otherwise it is kept as ``<target>.unverified`` and a FetchError is raised, so
    a truncated file is never recorded as trusted.

    Raises:
        ChecksumError: a mirror delivered a file with another digest (it is deleted).
        FetchError: no mirror could deliver it; the message says why per host and where to place
            the file by hand.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    failures: list[tuple[str, _MirrorFailed]] = []
    mismatch = None
    for url in urls:
        for attempt in range(2):  # a resumed file with a wrong digest is fetched once more from scratch
            resumed = part.exists() and part.stat().st_size > 0
            try:
                length_checked = _get(url, part, target.name, progress, timeout)
            except _MirrorFailed as err:
                failures.append((url, err))
                break
            digest = sha256_file(part)
            if expected_sha256 is None and not length_checked:
                # nothing proves the file complete: never trust (and record) it on first use
                unverified = target.with_name(target.name + ".unverified")
                os.replace(part, unverified)
                raise FetchError(target, f"{_host(url)} sent no Content-Length, and no digest is pinned, so the "
                                 f"download ({unverified.stat().st_size} bytes, SHA-256 {digest}) cannot be "
                                 f"verified; it was kept as {unverified} and not trusted",
                                 hint=manual_hint or "pin its SHA-256 in the lock, or place a verified copy by hand")
            if expected_sha256 is None or digest == expected_sha256:
                os.replace(part, target)
                return digest
            part.unlink()
            mismatch = (url, digest)
            if not resumed or attempt:
                failures.append((url, _MirrorFailed(f"SHA-256 {digest} differs from the expected {expected_sha256}")))
                break
    if mismatch is not None:
        raise ChecksumError(target, key="sha256", expected=expected_sha256, found=f"{mismatch[1]} from {mismatch[0]}",
                            hint="the download was deleted; a mirror may serve another version")
    reasons = "; ".join(f"{_host(url)}: {err}" for url, err in failures)
    if failures and all(err.unreachable for _, err in failures):
        message = (f"cannot reach the host{'s' if len(failures) > 1 else ''} of {target.name} ({reasons}). "
                   "This machine seems to be offline, or the hosts are down.")
    else:
        message = f"no mirror delivered {target.name} ({reasons})."
    raise FetchError(target, message, hint=manual_hint or None)


# ---------------------------------------------------------------------------------------------
# placing, verifying, unpacking


def _link(source: Path, target: Path) -> None:
    """Make ``target`` point at the hand-placed ``source`` (a relative symlink; replaced atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(source.resolve(), target.parent.resolve()), tmp)
    os.replace(tmp, target)


def _extract(archive: Path, members: str | tuple[str, ...], raw: Path, digest: str) -> str:
    """Unpack ``archive`` into ``raw`` once per archive digest (staged, then moved into place)."""
    marker = raw / f".{archive.name}.extracted"
    if marker.is_file() and marker.read_text().strip() == digest:
        return "already unpacked"
    stage = stage_path(raw / archive.name, ".unpack")
    try:
        try:
            if members == "tar":
                with tarfile.open(archive) as tar:
                    tar.extractall(stage, filter="data")  # refuses absolute paths, links out of the folder, devices
            else:
                with zipfile.ZipFile(archive) as zf:
                    for member in members:
                        zf.extract(member, stage)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, KeyError) as err:
            raise CorruptFileError(archive, expected="a complete archive" if members == "tar"
                                   else f"a zip archive with {', '.join(members)}", found=str(err)) from None
        for entry in stage.iterdir():
            destination = raw / entry.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            os.replace(entry, destination)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    atomic_write_text(marker, digest + "\n")
    return "unpacked"


def source_aliases(raw_dir: str, sources: Sequence[Source], manual: Path) -> dict[str, str]:
    """Names a user may give for a source (``<raw_dir>/<path>``, ``<path>``, the hand-placed
    file's path, relative or absolute) -> its record key ``<raw_dir>/<path>``."""
    aliases = {}
    for source in sources:
        key = f"{raw_dir}/{source.path}"
        placed = manual / raw_dir / source.path
        for alias in (key, source.path, str(placed), str(placed.resolve())):
            aliases[os.path.normpath(alias)] = key
    return aliases


def retrust_keys(raw_dir: str, sources: Sequence[Source], names: Sequence[str], *, manual: Path,
                 lock: dict[str, str | None]) -> list[str]:
    """The record keys meant by ``names`` (see :func:`source_aliases`), each checked: a source of
    ``raw_dir``, not pinned by the lock, placed by hand."""
    aliases = source_aliases(raw_dir, sources, manual)
    keys = []
    for name in names:
        key = aliases.get(os.path.normpath(name)) or aliases.get(os.path.normpath(str(Path(name).resolve())))
        if key is None:
            raise DataError(f"--retrust {name}", expected=f"one of {sorted(set(aliases.values()))}",
                            found="no such source")
        if lock.get(key):
            raise DataError(f"--retrust {name}", key=key, expected="a file trusted on first use",
                            found="a digest pinned in the lock; a different file cannot be trusted (edit the lock "
                                  "if upstream changed)")
        if not (manual / key).exists():
            raise MissingFileError(manual / key, f"corrected hand-placed file to re-trust for {key}")
        keys.append(key)
    return keys


def fetch_sources(raw_dir: str, sources: Sequence[Source], *, out: Path, manual: Path, lock: dict[str, str | None],
                  progress: bool = True, downloader: Callable[..., str] = download,
                  retrust: Sequence[str] = ()) -> FetchReport:
    """Bring every source of ``raw_dir`` into ``out/raw_dir`` (see the module docstring).

    ``retrust``: sources (see :func:`retrust_keys`) whose recorded first-use digest is dropped and
    replaced by the digest of the hand-placed file, e.g. after a corrupt copy was replaced.
    """
    raw = out / raw_dir
    book = DigestBook(lock, out / RECORD)
    again = retrust_keys(raw_dir, sources, retrust, manual=manual, lock=lock) if retrust else []
    raw.mkdir(parents=True, exist_ok=True)
    clean_stale_stages(raw)  # unpack folders of killed fetches
    for key in again:
        book.forget(key)
    report = FetchReport()
    for source in sources:
        key = f"{raw_dir}/{source.path}"
        target, placed = raw / source.path, manual / raw_dir / source.path
        expected, where = book.expected(key)
        present = target.resolve() if target.exists() and key not in again else None
        if present is not None and (expected is None or book.verified(key, present, expected)):
            digest, origin = expected or digest_path(present), book.record.get(key, {}).get("origin", "present")
            report.lines.append(f"ok       {key}" + (f" (matches {where})" if expected else ""))
        elif placed.exists():
            digest, origin = digest_path(placed), "placed by hand"
            if expected is not None and digest != expected:
                raise ChecksumError(placed, key="sha256", expected=f"{expected} ({where})", found=digest,
                                    hint="the hand-placed file is not the pinned version")
            _link(placed, target)
            report.lines.append(f"linked   {key} -> {placed}")
        elif source.urls:
            hint = (f"download it by hand from {' or '.join(source.urls)} and place it at {placed}, "
                    "then run `bpmult fetch` again")
            with disk_full_as_error(target):
                digest = downloader(source.urls, target, expected, manual_hint=hint, progress=progress)
            origin = "downloaded"
            report.lines.append(f"fetched  {key}")
        elif source.optional:
            report.lines.append(f"absent   {key} (not placed; place it at {placed}; source: {source.origin})")
            continue
        else:
            raise MissingFileError(placed, f"hand-placed {source.kind} for {key}",
                                   hint=f"get it from {source.origin} and place it there, then run `bpmult fetch` again")
        if expected is None:
            report.notices.append(f"{key}: no published digest; recorded SHA-256 {digest} in {book.record_path} "
                                  f"(trust on first use). Copy it into {default_lock_path()} to pin it for everyone.")
        book.remember(key, digest, target.resolve(), origin)
        if source.extract:
            with disk_full_as_error(raw):
                report.lines.append(f"         {target.name}: {_extract(target, source.extract, raw, digest)}")
    return report
