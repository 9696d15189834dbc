"""Dispatch by dataset name: ``prepare``, ``synthesize`` and ``fetch`` for the CLI, the pipeline and users.

The only module that imports every dataset module; the dataset modules import none of this, so
the data layer has no import circle (facts, source, errors, checks, arrays, prepared <- dataset
modules <- registry <- commands).
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

import numpy as np

from bpmult.atomic import staged_folder
from bpmult.data import iemocap, mmimdb, mosei, moviescope
from bpmult.data.config import DataConfig
from bpmult.data.errors import DataError
from bpmult.data.facts import DATASETS
from bpmult.data.fetch import FetchReport, fetch_sources, read_lock, retrust_keys, source_aliases
from bpmult.data.prepared import check_target
from bpmult.data.synthetic import DEFAULT_SIZE, MARKER, generator_record, read_marker, write_marker
from bpmult.data.text import TextEncoder, load_encoder

# name -> (module, extra keyword arguments of its prepare)
PREPARE: dict[str, tuple[ModuleType, dict[str, Any]]] = {
    "moviescope": (moviescope, {}),
    "mmimdb": (mmimdb, {}),
    "iemocap_aligned": (iemocap, {"aligned": True}),
    "iemocap_unaligned": (iemocap, {"aligned": False}),
    "mosei": (mosei, {}),
}
assert tuple(PREPARE) == DATASETS, "registry and facts list the same datasets"
SYNTH_NAMES = (*DATASETS, "iemocap")  # synth writes both IEMOCAP pickles for any IEMOCAP name
# fetch target -> {raw folder -> sources}; prepare's IEMOCAP names share the folder "iemocap"
FETCH_TARGETS = {"moviescope": moviescope.FETCH, "mmimdb": mmimdb.FETCH, "iemocap": iemocap.FETCH,
                 "mosei": mosei.FETCH}


def dataset_module(name: str) -> ModuleType:
    if name == "iemocap":
        return iemocap
    if name not in PREPARE:
        raise ValueError(f"dataset {name!r}: expected one of {', '.join(SYNTH_NAMES)}")
    return PREPARE[name][0]


def resolve_config(raw: str | Path, config: DataConfig | None = None, overrides: list[str] | None = None,
                   text_encoder: str | None = None, *, params: Mapping[str, Any] | None = None,
                   where: str = "data") -> tuple[DataConfig, dict | None]:
    """The config of a prepare run: ``config`` or the defaults (with a synthetic set's own lengths
    from its ``SYNTHETIC.json``), then the profile's ``params`` data section (errors name
    ``where``, e.g. ``paper.data``; see ``DataConfig.from_mapping``), then ``overrides`` and
    ``text_encoder``; also the marker record."""
    marker = read_marker(Path(raw))
    if config is None:
        config = DataConfig().replace(**marker["data_config"]) if marker else DataConfig()
    if params is not None:
        config = DataConfig.from_mapping(params, where, base=config)
    config = config.with_overrides(overrides or [])
    if text_encoder is not None:
        config = config.replace(text_encoder=text_encoder)
    return config, marker


def prepare(name: str, raw: str | Path, out: str | Path, *, config: DataConfig | None = None,
            encoder: TextEncoder | None = None, cache_dir: str | Path | None = "auto",
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Prepare dataset ``name`` from the raw folder ``raw`` into ``out``; returns the manifest.

    ``out`` is refused before anything is read when it is, contains or lies inside ``raw``, or is
    a non-empty folder other than an earlier prepared output.

    Args:
        config: the DataConfig (default: upstream values, or the synthetic set's own lengths).
        encoder: a text encoder object; default: the one ``config.text_encoder`` names, loaded
            only when the dataset has raw text.
        cache_dir: text-encoding cache; ``"auto"`` = ``<out>/../.text_cache``; None = no cache.
        overrides: ``key=value`` DataConfig overrides.
    """
    if name not in PREPARE:
        raise ValueError(f"dataset {name!r}: expected one of {', '.join(DATASETS)}")
    check_target(raw, out)
    module, extra = PREPARE[name]
    config, marker = resolve_config(raw, config, overrides)
    if cache_dir == "auto":
        cache_dir = Path(out).resolve().parent / ".text_cache"
    get_encoder = (lambda: encoder) if encoder is not None else functools.cache(
        lambda: load_encoder(config.text_encoder, config.text_batch_size))
    return module.prepare(raw, out, config=config, encoder=get_encoder, cache_dir=cache_dir, synthetic=marker,
                          **extra)


def synthesize(name: str, out: str | Path, seed: int = 0, size: int | None = None) -> dict[str, Any]:
    """Write the synthetic raw data of ``name`` to ``out`` and return its ``SYNTHETIC.json`` record.

    The files are written to a staging sibling that replaces ``out`` at the end; an existing
    ``out`` is replaced only if it is empty or an earlier synthetic set (it has the marker).
    """
    module = dataset_module(name)
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise DataError(out, expected=f"an empty folder or an earlier synthetic set (with {MARKER})",
                        found="other files; refusing to replace them")
    size = size or DEFAULT_SIZE
    with staged_folder(out) as stage:
        record = generator_record(module.SYNTH_NAME, seed, size,
                                  **module.write_synthetic(stage, np.random.default_rng(seed), size))
        write_marker(stage, record)
    return record


def fetch(name: str, *, out: str | Path = "data/downloads", manual: str | Path = "data/manual",
          lock_path: str | Path | None = None, progress: bool = True, retrust: tuple[str, ...] = (),
          on_report: Callable[[str, FetchReport], None] | None = None) -> dict[str, FetchReport]:
    """Fetch the raw files of ``name`` (moviescope, mmimdb, iemocap, mosei) into ``out/<raw folder>``.

    Returns one report per raw folder (Moviescope has two: the full features placed by hand and
    the demo subset); ``on_report`` sees each as soon as its folder is done. ``retrust``: sources
    whose first-use digest is replaced by the hand-placed file's (see ``fetch.retrust_keys``).
    """
    if name not in FETCH_TARGETS:
        raise ValueError(f"fetch {name!r}: expected one of {', '.join(FETCH_TARGETS)}")
    lock = read_lock(lock_path)
    out, manual = Path(out), Path(manual)
    routed: dict[str, list[str]] = {raw_dir: [] for raw_dir in FETCH_TARGETS[name]}
    for wanted in retrust:  # validate every name before any file is touched
        owners = [raw_dir for raw_dir, sources in FETCH_TARGETS[name].items()
                  if any(alias in source_aliases(raw_dir, sources, manual)
                         for alias in (str(Path(wanted)), str(Path(wanted).resolve())))]
        if not owners:
            known = sorted(k for raw_dir, sources in FETCH_TARGETS[name].items()
                           for k in set(source_aliases(raw_dir, sources, manual).values()))
            raise DataError(f"--retrust {wanted}", expected=f"a source of {name}: one of {known}",
                            found="no such source")
        routed[owners[0]].append(wanted)
    for raw_dir, names in routed.items():
        retrust_keys(raw_dir, FETCH_TARGETS[name][raw_dir], names, manual=manual, lock=lock)
    reports = {}
    for raw_dir, sources in FETCH_TARGETS[name].items():
        reports[raw_dir] = fetch_sources(raw_dir, sources, out=out, manual=manual, lock=lock, progress=progress,
                                         retrust=routed[raw_dir])
        if on_report is not None:
            on_report(raw_dir, reports[raw_dir])
    return reports

