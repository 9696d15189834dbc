"""Getting the real datasets: mirrors in order, resumable downloads, SHA-256 checks, hand-placed files.

Each dataset module lists its ``Source`` entries (where a file comes from, mirrors first to last);
``bpmult/resources/fetch_lock.json`` pins what each must be (SHA-256). For every source,
``fetch_sources``:

1. keeps a file already in the raw folder if its digest matches (re-hashing only when its size or
   modification time changed since the last check);
2. else takes the file from the hand-placed folder ``<manual>/<raw_dir>/<path>`` (versioned with
   DVC as ``data.dvc``), verifies it and links it into the raw folder;
3. else downloads it: each mirror in turn, resuming a partial ``.part`` file with an HTTP Range
   request, with a progress bar, then verifies the digest and renames the file into place
   (``os.replace``); archives are then unpacked.

When the lock has no digest (upstream publishes none), the first digest seen is recorded in
``<out>/fetch_record.json`` and checked from then on (trust on first use); the message says so and
how to pin it in the lock. Offline, the error says that the hosts cannot be reached and which file
to place where.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

from bpmult.data.errors import ChecksumError, FetchError, MissingFileError
from bpmult.data.prepared import atomic_write_json, sha256_file

CHUNK = 1 << 20
USER_AGENT = "bpmult-fetch/0.1 (+reproducibility package)"


@dataclass(frozen=True)
class Source:
    """One file (or, for hand-placed data, folder) of a raw dataset.

    Attributes:
        path: where it lies inside the raw folder (and inside ``<manual>/<raw_dir>/``).
        urls: mirrors, tried in order; empty when the file can only be placed by hand.
        origin: where it comes from, in words (for messages and the report).
        kind: ``"file"`` or ``"dir"`` (a folder of per-item files; hand-placed only).
        extract: ``"tar"`` to unpack a tarball, or member names of a zip to unpack, after the check.
        optional: a missing hand-placed source is reported, not an error.
    """

    path: str
    urls: tuple[str, ...] = ()
    origin: str = ""
    kind: str = "file"
    extract: str | tuple[str, ...] | None = None
    optional: bool = False


@dataclass
class FetchReport:
    """What ``fetch_sources`` did, one line per source, and the notices to show."""

    lines: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# lock (committed digests) and record (digests seen first here)


def default_lock_path() -> Path:
    return Path(str(resources.files("bpmult") / "resources" / "fetch_lock.json"))


def read_lock(path: str | Path | None = None) -> dict[str, str | None]:
    """``"<raw_dir>/<path>" -> sha256 or None`` from the lock file."""
    path = Path(path) if path is not None else default_lock_path()
    if not path.is_file():
        raise MissingFileError(path, "fetch lock (pinned SHA-256 of every source)")
    return {key: entry.get("sha256") for key, entry in json.loads(path.read_text())["files"].items()}


def fingerprint(path: Path) -> list[int]:
    """Cheap change detector: size and mtime of a file; count, total size and newest mtime of a folder."""
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file()]
        return [len(stats), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def digest_path(path: Path) -> str:
    """SHA-256 of a file, or of a folder as the digest of its sorted ``"<relative path> <sha256>"`` lines."""
    if path.is_dir():
        lines = sorted(f"{p.relative_to(path).as_posix()} {sha256_file(p)}" for p in path.rglob("*") if p.is_file())
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return sha256_file(path)


class DigestBook:
    """Expected digests: the lock's, else the ones recorded at first sight in ``fetch_record.json``;
    also remembers which files were verified, so unchanged ones are not hashed again."""

    def __init__(self, lock: dict[str, str | None], record_path: Path):
        self.lock, self.record_path = lock, record_path
        self.record: dict[str, dict] = json.loads(record_path.read_text()) if record_path.is_file() else {}

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


def _get(url: str, part: Path, name: str, progress: bool, timeout: float) -> None:
    """Download ``url`` into ``part``, continuing from its current size when the server allows."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (URLs come from the package)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the partial file may be complete
            return
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
        total = offset + int(length) if length is not None else None
        from tqdm import tqdm  # noqa: PLC0415

        with open(part, "ab" if resumed else "wb") as handle, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not progress, file=sys.stderr, leave=False) as bar:
            try:
                while block := response.read(CHUNK):
                    handle.write(block)
                    bar.update(len(block))
            except (socket.timeout, ConnectionError, OSError) as err:
                raise _MirrorFailed(f"connection lost after {handle.tell()} bytes ({err}); run again to resume",
                                    unreachable=True) from None
    if total is not None and part.stat().st_size != total:
        raise _MirrorFailed(f"incomplete: {part.stat().st_size} of {total} bytes; run again to resume")


def download(urls: Sequence[str], target: Path, expected_sha256: str | None, *, manual_hint: str = "",
             progress: bool = True, timeout: float = 60.0) -> str:
    """Download ``target`` from the first mirror that works and return its SHA-256.

    A partial ``<target>.part`` is resumed with an HTTP Range request. The file is renamed into
    place only after its digest matches ``expected_sha256`` (when given).

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
                _get(url, part, target.name, progress, timeout)
            except _MirrorFailed as err:
                failures.append((url, err))
                break
            digest = sha256_file(part)
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
    stage = Path(tempfile.mkdtemp(prefix=".unpack-", dir=raw))
    try:
        if members == "tar":
            with tarfile.open(archive) as tar:
                tar.extractall(stage, filter="data")  # refuses absolute paths, links out of the folder, devices
        else:
            with zipfile.ZipFile(archive) as zf:
                for member in members:
                    zf.extract(member, stage)
        for entry in stage.iterdir():
            destination = raw / entry.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            os.replace(entry, destination)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    marker.write_text(digest + "\n")
    return "unpacked"


def fetch_sources(raw_dir: str, sources: Sequence[Source], *, out: Path, manual: Path, lock: dict[str, str | None],
                  progress: bool = True, downloader: Callable[..., str] = download) -> FetchReport:
    """Bring every source of ``raw_dir`` into ``out/raw_dir`` (see the module docstring)."""
    raw = out / raw_dir
    raw.mkdir(parents=True, exist_ok=True)
    book = DigestBook(lock, out / "fetch_record.json")
    report = FetchReport()
    for source in sources:
        key = f"{raw_dir}/{source.path}"
        target, placed = raw / source.path, manual / raw_dir / source.path
        expected, where = book.expected(key)
        present = target.resolve() if target.exists() else None
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
            digest, origin = downloader(source.urls, target, expected, manual_hint=hint, progress=progress), "downloaded"
            report.lines.append(f"fetched  {key}")
        elif source.optional:
            report.lines.append(f"absent   {key} (optional; place it at {placed}; source: {source.origin})")
            continue
        else:
            raise MissingFileError(placed, f"hand-placed {source.kind} for {key}",
                                   hint=f"get it from {source.origin} and place it there, then run `bpmult fetch` again")
        if expected is None:
            report.notices.append(f"{key}: no published digest; recorded SHA-256 {digest} in {book.record_path} "
                                  f"(trust on first use). Copy it into {default_lock_path()} to pin it for everyone.")
        book.remember(key, digest, target.resolve(), origin)
        if source.extract:
            report.lines.append(f"         {target.name}: {_extract(target, source.extract, raw, digest)}")
    return report


def fetch(name: str, *, out: str | Path = "data/downloads", manual: str | Path = "data/manual",
          lock_path: str | Path | None = None, progress: bool = True,
          on_report: Callable[[str, FetchReport], None] | None = None) -> dict[str, FetchReport]:
    """Fetch the raw files of ``name`` (moviescope, mmimdb, iemocap, mosei) into ``out/<raw folder>``.

    Returns one report per raw folder (Moviescope has two: the full features placed by hand and
    the demo subset); ``on_report`` sees each as soon as its folder is done.
    """
    from bpmult.data.registry import FETCH_TARGETS  # noqa: PLC0415 (the dataset modules import this one)

    if name not in FETCH_TARGETS:
        raise ValueError(f"fetch {name!r}: expected one of {', '.join(FETCH_TARGETS)}")
    lock = read_lock(lock_path)
    reports = {}
    for raw_dir, sources in FETCH_TARGETS[name].items():
        reports[raw_dir] = fetch_sources(raw_dir, sources, out=Path(out), manual=Path(manual), lock=lock,
                                         progress=progress)
        if on_report is not None:
            on_report(raw_dir, reports[raw_dir])
    return reports
