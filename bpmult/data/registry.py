"""Dataset names and the ``prepare`` entry point shared by the CLI and the Python API."""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any

from bpmult.data import iemocap, mmimdb, mosei, moviescope
from bpmult.data.config import DataConfig
from bpmult.data.synthetic import read_marker
from bpmult.data.text import TextEncoder, load_encoder

# name -> (module, extra keyword arguments of its prepare)
PREPARE: dict[str, tuple[ModuleType, dict[str, Any]]] = {
    "moviescope": (moviescope, {}),
    "mmimdb": (mmimdb, {}),
    "iemocap_aligned": (iemocap, {"aligned": True}),
    "iemocap_unaligned": (iemocap, {"aligned": False}),
    "mosei": (mosei, {}),
}
DATASETS = tuple(PREPARE)
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
                   text_encoder: str | None = None) -> tuple[DataConfig, dict | None]:
    """The config of a prepare run: ``config`` or the defaults (with a synthetic set's own lengths
    from its ``SYNTHETIC.json``), then ``overrides`` and ``text_encoder``; also the marker record."""
    marker = read_marker(Path(raw))
    if config is None:
        config = DataConfig().replace(**marker["data_config"]) if marker else DataConfig()
    config = config.with_overrides(overrides or [])
    if text_encoder is not None:
        config = config.replace(text_encoder=text_encoder)
    return config, marker


def prepare(name: str, raw: str | Path, out: str | Path, *, config: DataConfig | None = None,
            encoder: TextEncoder | None = None, cache_dir: str | Path | None = "auto",
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Prepare dataset ``name`` from the raw folder ``raw`` into ``out``; returns the manifest.

    Args:
        config: the DataConfig (default: upstream values, or the synthetic set's own lengths).
        encoder: a text encoder object; default: the one ``config.text_encoder`` names, loaded
            only when the dataset has raw text.
        cache_dir: text-encoding cache; ``"auto"`` = ``<out>/../.text_cache``; None = no cache.
        overrides: ``key=value`` DataConfig overrides.
    """
    if name not in PREPARE:
        raise ValueError(f"dataset {name!r}: expected one of {', '.join(DATASETS)}")
    module, extra = PREPARE[name]
    config, marker = resolve_config(raw, config, overrides)
    if cache_dir == "auto":
        cache_dir = Path(out).resolve().parent / ".text_cache"
    get_encoder = (lambda: encoder) if encoder is not None else functools.cache(
        lambda: load_encoder(config.text_encoder, config.text_batch_size))
    return module.prepare(raw, out, config=config, encoder=get_encoder, cache_dir=cache_dir, synthetic=marker,
                          **extra)
