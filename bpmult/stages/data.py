"""The data stages: ``raw`` (write or fetch a source's upstream files) and ``prepare``.

A profile's ``data`` section drives both::

    data:
      source: synth | fetch          # synth: bpmult writes synthetic sets in the real formats;
                                     # fetch (default): the real files, downloaded or placed by hand
      synthetic: true                # what the report's banner says (default: source == synth)
      synth_size: {moviescope: 240}  # synth only: samples per set
      synth_seed: 0
      raw_folder: {moviescope: moviescope_demo}   # fetch only: which raw folder of a source
      <any DataConfig field>: value  # e.g. text_encoder, mosei_allow_unmatched, mmimdb_bow_vocab

Every ``DataConfig`` field flows from the active profile to ``bpmult prepare``; an unknown key is
an error naming its params path.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bpmult.data import DataConfig, fetch, registry, synthesize
from bpmult.errors import debug_requested, report_errors
from bpmult.stages.paths import MANUAL, PARAMS, downloads, profile_settings, text_cache

STAGE_KEYS = ("source", "synthetic", "synth_size", "synth_seed", "raw_folder")
SOURCES = ("synth", "fetch")


def data_section(profile: str, section: dict[str, Any]) -> dict[str, Any]:
    """The profile's ``data`` mapping, its keys checked (one-line errors naming the params path)."""
    data = section.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError(f"params.yaml: {profile}.data must be a mapping, got {data!r}")
    fields = [f.name for f in dataclasses.fields(DataConfig)]
    unknown = sorted(set(data) - set(STAGE_KEYS) - set(fields))
    if unknown:
        raise ValueError(f"params.yaml: {profile}.data: unknown key(s) {unknown}; valid: "
                         f"{list(STAGE_KEYS)} and the DataConfig fields {fields}")
    source = data.get("source", "fetch")
    if source not in SOURCES:
        raise ValueError(f"params.yaml: {profile}.data.source must be one of {list(SOURCES)}, got {source!r}")
    return data


def data_config(profile: str, data: dict[str, Any], raw: Path) -> DataConfig:
    """The DataConfig of a prepare run: the raw set's own (synthetic marker) values, then the profile's."""
    config, _ = registry.resolve_config(raw)
    fields = {f.name: data[f.name] for f in dataclasses.fields(DataConfig) if f.name in data}
    try:
        return config.replace(**fields)
    except ValueError as err:
        message = str(err)
        if message.startswith("DataConfig."):
            message = message[len("DataConfig."):]
        raise ValueError(f"params.yaml: {profile}.data.{message}") from None


def raw_stage(source: str, out: Path, params_path: str | Path = PARAMS) -> None:
    """Write the raw files of ``source`` (moviescope, mmimdb, iemocap, mosei) into ``out``.

    ``source: synth`` generates them with :func:`bpmult.data.synthesize` (the real upstream
    formats); ``source: fetch`` fetches the real files into ``data/downloads`` (verified against
    the committed SHA-256 lock), takes hand-placed ones from ``data/manual``, and links them into
    ``out``, following symbolic links, so a hand-placed folder tree arrives whole.
    """
    _, profile, section = profile_settings(params_path)
    data = data_section(profile, section)
    if data.get("source", "fetch") == "synth":
        sizes = data.get("synth_size", {})
        synthesize(source, out, seed=int(data.get("synth_seed", 0)), size=sizes.get(source))
        return
    targets = registry.FETCH_TARGETS
    if source not in targets:
        raise ValueError(f"raw source {source!r}: expected one of {sorted(targets)}")
    # one raw folder per source; Moviescope has two (full features by hand, or the authors' demo
    # subset): `paper.data.raw_folder.moviescope: moviescope_demo` picks the demo
    folder = data.get("raw_folder", {}).get(source, source)
    if folder not in targets[source]:
        raise ValueError(f"params.yaml: {profile}.data.raw_folder.{source}: {folder!r}; expected one of "
                         f"{sorted(targets[source])}")
    fetched = fetch.fetch_sources(folder, targets[source][folder], out=downloads(), manual=MANUAL, lock=fetch.read_lock(),
                            progress=False)
    print("\n".join(fetched.lines))
    link_tree(downloads() / folder, Path(out))


def link_tree(src: Path, dst: Path) -> int:
    """Mirror ``src`` into ``dst`` with hard links (copies across file systems); returns the file count.

    Walks with ``os.walk(followlinks=True)``: a hand-placed folder is often a symbolic link (to a
    disk with room), and ``Path.rglob`` does not descend into linked folders (Python 3.11-3.13).
    """
    count = 0
    seen: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(src, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in seen:  # a link cycle: walk each real folder once
            subfolders[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        for name in files:
            path = Path(folder) / name
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            real = path.resolve()
            try:
                os.link(real, target)
            except OSError:
                shutil.copy2(real, target)
            count += 1
    return count


def prepare_stage(dataset: str, raw: Path, out: Path, params_path: str | Path = PARAMS) -> dict[str, Any]:
    """Prepare ``dataset`` from its raw folder with the profile's data settings; returns the manifest."""
    _, profile, section = profile_settings(params_path)
    data = data_section(profile, section)
    config = data_config(profile, data, Path(raw))
    return registry.prepare(dataset, raw, out, config=config, cache_dir=text_cache())


def main(argv: list[str] | None = None) -> int:
    """``python -m bpmult.stages.data raw|prepare NAME ...``: what ``dvc.yaml`` runs."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bpmult stage", description="raw: write (synth) or fetch a source's "
                                     "upstream files; prepare: turn a raw folder into the model-ready format.")
    parser.add_argument("stage", choices=["raw", "prepare"], help="which stage")
    parser.add_argument("name", help="raw: moviescope|mmimdb|iemocap|mosei; prepare: a dataset name")
    parser.add_argument("--raw", help="prepare: the raw folder")
    parser.add_argument("--out", required=True, help="the folder to write")
    parser.add_argument("--params", default=str(PARAMS), help="params file (default: params.yaml)")
    args = parser.parse_args([a for a in argv if a != "--debug"])
    return report_errors(f"bpmult stage {args.stage}", lambda: run_stage(args), debug=debug_requested(argv))


def run_stage(args: argparse.Namespace) -> int:
    if args.stage == "raw":
        raw_stage(args.name, Path(args.out), params_path=args.params)
    else:
        if not args.raw:
            raise ValueError("bpmult stage prepare: --raw FOLDER is required")
        prepare_stage(args.name, Path(args.raw), Path(args.out), params_path=args.params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
