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
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bpmult.atomic import link_tree
from bpmult.data import DataConfig, fetch, registry, synthesize
from bpmult.data.place import refuse_folder_links
from bpmult.data.source import Source
from bpmult.errors import debug_requested, report_errors
from bpmult.stages.paths import MANUAL, PARAMS, downloads, profile_settings, text_cache

SOURCES = ("synth", "fetch")


def data_section(profile: str, section: dict[str, Any]) -> dict[str, Any]:
    """The profile's ``data`` mapping, checked whole (one-line errors naming the params path)."""
    data = section.get("data") or {}
    where = f"params.yaml: {profile}.data"
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {data!r}")
    DataConfig.from_mapping(data, where)  # unknown keys and bad values fail here, before any work
    source = data.get("source", "fetch")
    if source not in SOURCES:
        raise ValueError(f"{where}.source must be one of {list(SOURCES)}, got {source!r}")
    return data


def data_config(profile: str, data: dict[str, Any], raw: Path) -> DataConfig:
    """The DataConfig of a prepare run: the raw set's own (synthetic marker) values, then the profile's."""
    return registry.resolve_config(raw, params=data, where=f"params.yaml: {profile}.data")[0]


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
    folder = raw_folder(data, source)
    if folder not in targets[source]:
        raise ValueError(f"params.yaml: {profile}.data.raw_folder.{source}: {folder!r}; expected one of "
                         f"{sorted(targets[source])}")
    # DVC hashes data/manual/<folder> (a dep of this stage) without entering folder links: one there
    # would hide a placed or changed file from `dvc status`, so it is refused with the command to fix it
    refuse_folder_links(MANUAL / folder)
    try:
        fetched = fetch.fetch_sources(folder, targets[source][folder], out=downloads(), manual=MANUAL,
                                      lock=fetch.read_lock(), progress=False)
    except FileNotFoundError as err:
        # stopping at the first dataset hides what the others still need: say it for all of them
        raise FileNotFoundError(f"{err}\n{missing_report(data)}") from None
    print("\n".join(fetched.lines))
    # follows symbolic links: a hand-placed folder is often a link to a disk with room, and
    # Path.rglob does not descend into linked folders (Python 3.11-3.13)
    if not link_tree(downloads() / folder, Path(out), follow_symlinks=True, exclude=fetch.is_partial):
        raise FileNotFoundError(f"{MANUAL / folder}: no raw file of {source!r} is placed or downloaded; nothing to "
                                f"prepare\n{missing_report(data)}")


def raw_folder(data: dict[str, Any], source: str) -> str:
    """The raw folder a profile's ``data`` section takes for ``source``: one per source, but
    Moviescope has two (full features by hand, or the authors' demo subset):
    ``paper.data.raw_folder.moviescope: moviescope_demo`` picks the demo."""
    return data.get("raw_folder", {}).get(source, source)


def unplaced(folder: str, sources: Sequence[Source]) -> list[Source]:
    """The hand-placed ``sources`` of raw folder ``folder`` (no download URL) found neither in
    ``data/manual`` nor already linked into ``data/downloads``."""
    return [s for s in sources if not s.urls
            and not (MANUAL / folder / s.path).exists() and not (downloads() / folder / s.path).exists()]


def missing_report(data: dict[str, Any]) -> str:
    """What every raw source still needs, for one message: hand-placed files absent from
    ``data/manual`` (and not yet linked into ``data/downloads``); downloads are fetched by the stage."""
    lines = ["what the fetch profile still needs, per dataset (see data/README.md):"]
    for source, folders in registry.FETCH_TARGETS.items():
        folder = raw_folder(data, source)
        needed = unplaced(folder, folders.get(folder, ()))
        status = "ready (the rest downloads)" if not needed else "place by hand: " + "; ".join(
            str(MANUAL / folder / s.path) for s in needed)
        lines.append(f"  {source}: {status}")
    return "\n".join(lines)


def prepare_stage(dataset: str, raw: Path, out: Path, params_path: str | Path = PARAMS) -> dict[str, Any]:
    """Prepare ``dataset`` from its raw folder with the profile's data settings; returns the manifest."""
    _, profile, section = profile_settings(params_path)
    data = data_section(profile, section)
    config = data_config(profile, data, Path(raw))
    return registry.prepare(dataset, raw, out, config=config, cache_dir=text_cache())


def main(argv: list[str] | None = None) -> int:
    """``python -m bpmult.stages.data raw|prepare NAME ...``: what ``dvc.yaml`` runs."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bpmult stage", description=STAGE_DESCRIPTION)
    stage_arguments(parser)
    args = parser.parse_args([a for a in argv if a != "--debug"])
    return report_errors(f"bpmult stage {args.stage}", lambda: run_stage(args), debug=debug_requested(argv))


STAGE_DESCRIPTION = ("raw: write (synth) or fetch a source's upstream files; prepare: turn a raw folder into the "
                     "model-ready format with the profile's data settings.")


def stage_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``bpmult stage`` (the console verb and ``python -m bpmult.stages.data``)."""
    parser.add_argument("stage", choices=["raw", "prepare"], help="which stage")
    parser.add_argument("name", help="raw: moviescope|mmimdb|iemocap|mosei; prepare: a dataset name")
    parser.add_argument("--raw", help="prepare: the raw folder")
    parser.add_argument("--out", required=True, help="the folder to write")
    parser.add_argument("--params", default=str(PARAMS), help="params file (default: params.yaml)")
    parser.set_defaults(func=run_stage)


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
