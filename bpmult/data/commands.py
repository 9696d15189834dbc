"""The data commands of the ``bpmult`` console script: ``fetch``, ``prepare``, ``synth``.

```
bpmult fetch {moviescope,mmimdb,iemocap,mosei,bert-base-uncased} [--out data/downloads] [--manual data/manual]
bpmult prepare DATASET --raw DIR --out DIR [--text-encoder minilm|bert-base-uncased] [--cache DIR | --no-cache]
               [--set KEY=VALUE ...]
bpmult synth DATASET --out DIR [--seed S] [--size N]
```
DATASET (prepare, synth): moviescope, mmimdb, iemocap_aligned, iemocap_unaligned, mosei.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bpmult.data.config import TEXT_ENCODERS


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    from bpmult.data.registry import DATASETS, FETCH_TARGETS, SYNTH_NAMES  # noqa: PLC0415
    from bpmult.data.synthetic import DEFAULT_SIZE  # noqa: PLC0415

    fetch = subparsers.add_parser(
        "fetch", help="download a dataset's raw files (or link hand-placed ones) and check their SHA-256",
        description="Mirrors are tried in order; partial downloads resume; every file is checked against "
                    "bpmult/resources/fetch_lock.json (or, where upstream publishes no digest, the digest "
                    "recorded at first download). Hand-placed files are looked for in MANUAL/<raw folder>/.")
    fetch.add_argument("dataset", choices=(*FETCH_TARGETS, "bert-base-uncased"))
    fetch.add_argument("--out", type=Path, default=Path("data/downloads"),
                       help="download root (default: data/downloads, where the pipeline's raw stage looks)")
    fetch.add_argument("--manual", type=Path, default=Path("data/manual"),
                       help="hand-placed files, versioned by data.dvc (default: data/manual)")
    fetch.add_argument("--lock", type=Path, default=None, help="lock file (default: the package's)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(func=_fetch)

    prepare = subparsers.add_parser(
        "prepare", help="turn raw files (real or synthetic) into the prepared-data format",
        description="Reads RAW exactly as the upstream downloads unpack and writes OUT/manifest.json, "
                    "OUT/<split>/<modality>.npy, label.npy, ids.json (docs/design.md §1), atomically.")
    prepare.add_argument("dataset", choices=DATASETS)
    prepare.add_argument("--raw", type=Path, required=True, help="raw folder of the dataset")
    prepare.add_argument("--out", type=Path, required=True, help="prepared-data folder to write")
    prepare.add_argument("--text-encoder", choices=TEXT_ENCODERS, default=None,
                         help="default: minilm (packaged, offline); bert-base-uncased is the paper's")
    cache = prepare.add_mutually_exclusive_group()
    cache.add_argument("--cache", type=Path, default=None,
                       help="text-encoding cache (default: OUT/../.text_cache)")
    cache.add_argument("--no-cache", action="store_true", help="do not cache text encodings")
    prepare.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a DataConfig field, e.g. --set mmimdb_bow_vocab=5000")
    prepare.set_defaults(func=_prepare)

    synth = subparsers.add_parser(
        "synth", help="write a small synthetic dataset in the real raw format (the embedded default)",
        description="Labels fire when events co-occur in two modalities; see bpmult/data/synthetic.py.")
    synth.add_argument("dataset", choices=SYNTH_NAMES)
    synth.add_argument("--out", type=Path, required=True, help="raw folder to write")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"samples (default {DEFAULT_SIZE})")
    synth.set_defaults(func=_synth)


def _fetch(args: argparse.Namespace) -> int:
    if args.dataset == "bert-base-uncased":
        from bpmult.data.text import fetch_bert  # noqa: PLC0415

        print(f"bert-base-uncased: in the Hugging Face cache at {fetch_bert()}")
        return 0
    from bpmult.data.fetch import fetch  # noqa: PLC0415

    def show(raw_dir: str, report) -> None:
        print("\n".join(report.lines))
        for notice in report.notices:
            print(f"note: {notice}", file=sys.stderr)
        print(f"raw folder: {args.out / raw_dir}", flush=True)

    fetch(args.dataset, out=args.out, manual=args.manual, lock_path=args.lock,
          progress=not args.no_progress and sys.stderr.isatty(), on_report=show)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from bpmult.data.registry import prepare, resolve_config  # noqa: PLC0415

    start = time.perf_counter()
    cache = None if args.no_cache else (args.cache or "auto")
    config, _ = resolve_config(args.raw, overrides=args.overrides, text_encoder=args.text_encoder)
    manifest = prepare(args.dataset, args.raw, args.out, config=config, cache_dir=cache)
    splits = ", ".join(f"{name} {info['n']}" for name, info in manifest["splits"].items())
    modalities = ", ".join(f"{name} {tuple(shape)}" for name, shape in manifest["modalities"].items())
    print(f"prepared {args.dataset}{' (synthetic)' if manifest['synthetic'] else ''}: {splits}; {modalities}; "
          f"{len(manifest['label_names'])} labels -> {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from bpmult.data.synthetic import synthesize  # noqa: PLC0415

    start = time.perf_counter()
    record = synthesize(args.dataset, args.out, seed=args.seed, size=args.size)
    print(f"synthetic {record['dataset']} (seed {args.seed}, {args.size} samples) -> {args.out} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0
