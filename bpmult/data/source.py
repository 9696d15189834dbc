"""``Source``: one raw file (or hand-placed folder) of a dataset, as the dataset modules list it.

A module of its own so that the dataset modules (which list their sources) and ``fetch`` (which
brings them in) do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass


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
