"""Placing big upstream folders in ``data/manual`` so that DVC sees every file.

DVC hashes a dependency folder without entering linked folders (its local walk does not follow
directory symlinks), while it reads a linked *file* through its link. A folder placed as
``ln -s /disk/frames data/manual/moviescope/200F_VGG16`` is therefore invisible to ``dvc status``:
placing it, changing a file in it or adding one goes unnoticed. ``bpmult place SOURCE DEST``
keeps the data where it is and mirrors SOURCE under DEST as real folders of file links, which DVC
hashes through (issue 9: "dvc status after placing or changing a hand-placed file reports the raw
stage as changed"). The raw stage refuses folder links inside ``data/manual`` with the command
that replaces them (:func:`folder_links`, :func:`refuse_folder_links`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from bpmult.atomic import staged_folder


class PlaceError(ValueError):
    """A placement that cannot be made: one line naming the path and what was expected."""


def folder_links(root: str | Path) -> list[Path]:
    """Every symbolic link to a folder below ``root`` (not followed), sorted. ``root`` itself may be
    a link: DVC follows the top of a dependency path (``data/manual/<folder>`` in ``dvc.yaml``)."""
    root = Path(root)
    found = []
    for parent, dirs, _ in os.walk(root):
        for name in dirs:
            if (Path(parent) / name).is_symlink():
                found.append(Path(parent) / name)
    return sorted(found)


def refuse_folder_links(root: str | Path) -> None:
    """Stop before any work when ``root`` holds a folder link DVC would not look into, naming the
    first one and the ``bpmult place`` command that replaces it by links to its files."""
    links = folder_links(root)
    if links:
        link = links[0]
        more = f" (and {len(links) - 1} more folder link(s) there)" if len(links) > 1 else ""
        raise PlaceError(f"{link}: a link to a folder ({os.path.realpath(link)}){more}; expected real folders or "
                         f"file links, because DVC does not look inside linked folders and `dvc status` would "
                         f"miss a changed or added file; replace it by links to each of its files: bpmult place "
                         f"{os.path.realpath(link)} {link}")


def _source_files(source: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path through SOURCE) of every file below ``source``, following folder links
    (a link back to a folder already being walked is an error, not an endless walk)."""
    def walk(folder: Path, rel: str, seen: frozenset[str]) -> Iterator[tuple[str, Path]]:
        real = os.path.realpath(folder)
        if real in seen:
            raise PlaceError(f"{folder}: a link back to {real}, which contains it; "
                             "expected a folder tree without cycles")
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path, name = Path(entry.path), f"{rel}{entry.name}"
                if entry.is_dir():  # follows links
                    yield from walk(path, name + "/", seen | {real})
                elif entry.is_file():
                    yield name, path
                elif entry.is_symlink():
                    raise PlaceError(f"{path}: a broken link (to {os.readlink(path)}); expected a file or a folder")
                else:
                    raise PlaceError(f"{path}: not a regular file; expected files and folders only")
    yield from walk(source, "", frozenset())


def _make_link(target: Path, link: Path) -> None:
    """``link`` -> ``target`` (absolute), replacing an older link atomically."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.place-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _check(source: Path, dest: Path) -> None:
    if not source.exists():
        raise PlaceError(f"{source}: does not exist; expected the upstream file or folder to place")
    real_source, real_dest = os.path.realpath(source), os.path.realpath(dest)
    if dest.is_symlink() and real_dest != real_source:
        raise PlaceError(f"{dest}: already a link to {real_dest}; expected nothing there, a folder, or a link to "
                         f"{real_source} (remove the link first)")
    if not dest.is_symlink() and (real_source == real_dest or real_dest.startswith(real_source + os.sep)
                                  or real_source.startswith(real_dest + os.sep)):
        raise PlaceError(f"{dest}: inside or around {source}; expected a place outside the folder being placed")
    if dest.exists() and not dest.is_symlink() and source.is_dir() != dest.is_dir():
        kind = "folder" if source.is_dir() else "file"
        raise PlaceError(f"{dest}: exists and is not a {kind}; expected a {kind} (or nothing) to mirror {source}")


def place(source: str | Path, dest: str | Path) -> dict[str, int]:
    """Mirror ``source`` (a file or a folder tree, links followed) at ``dest`` as file links.

    ``dest`` may be absent, a folder (links are added or updated beside what is there; a real file
    in the way is an error, never overwritten; a link left from an earlier placement of the same
    source whose file is gone is removed), or a link to ``source`` itself (replaced, atomically,
    by the mirror: the data stays where it is). Returns counts: ``linked``, ``kept``, ``removed``.
    """
    source, dest = Path(os.path.abspath(source)), Path(os.path.abspath(dest))
    _check(source, dest)
    if source.is_file():
        if dest.exists() and not dest.is_symlink():
            raise PlaceError(f"{dest}: a real file is there; expected nothing or a link (it is never overwritten)")
        _make_link(source, dest)
        return {"linked": 1, "kept": 0, "removed": 0}
    files = list(_source_files(source))
    if dest.is_symlink():  # the user's folder link to the same data: build beside it, then swap
        with staged_folder(dest) as stage:  # the old link is moved aside, then unlinked (the data is untouched)
            for rel, path in files:
                _make_link(path, stage / rel)
        return {"linked": len(files), "kept": 0, "removed": 0}
    counts = {"linked": 0, "kept": 0, "removed": 0}
    wanted = {rel: path for rel, path in files}
    for rel, path in files:
        link = dest / rel
        if link.is_symlink() and os.readlink(link) == str(path):
            counts["kept"] += 1
            continue
        if link.exists() and not link.is_symlink():
            raise PlaceError(f"{link}: a real {'folder' if link.is_dir() else 'file'} is there; expected nothing or a "
                             f"link to {path} (it is never overwritten)")
        _make_link(path, link)
        counts["linked"] += 1
    prefix = str(source) + os.sep
    for parent, _, names in os.walk(dest):
        for name in names:
            link = Path(parent) / name
            rel = link.relative_to(dest).as_posix()
            if link.is_symlink() and rel not in wanted and os.readlink(link).startswith(prefix):
                link.unlink()  # a link this command made for a file that has since left SOURCE
                counts["removed"] += 1
    return counts
