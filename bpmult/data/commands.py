"""The data commands of the ``bpmult`` console script: ``fetch``, ``prepare``, ``synth``.

```
bpmult fetch {moviescope,mmimdb,iemocap,mosei,bert-base-uncased} [--out data/downloads] [--manual data/manual]
             [--retrust FILE ...]
bpmult prepare DATASET --raw DIR --out DIR [--text-encoder minilm|bert-base-uncased] [--cache DIR | --no-cache]
               [--set KEY=VALUE ...]
bpmult synth DATASET --out DIR [--seed S] [--size N]
bpmult place SOURCE DEST
```
DATASET (prepare, synth): moviescope, mmimdb, iemocap_aligned, iemocap_unaligned, mosei.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bpmult.data.config import TEXT_ENCODERS
from bpmult.data.place import folder_links, place
from bpmult.data.registry import DATASETS, FETCH_TARGETS, SYNTH_NAMES, fetch, prepare, resolve_config, synthesize
from bpmult.data.synthetic import DEFAULT_SIZE
from bpmult.data.text import fetch_bert


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    fetch_cmd = subparsers.add_parser(
        "fetch", help="download a dataset's raw files (or link hand-placed ones) and check their SHA-256",
        description="Mirrors are tried in order; partial downloads resume; every file is checked against "
                    "bpmult/resources/fetch_lock.json (or, where upstream publishes no digest, the digest "
                    "recorded at first download). Hand-placed files are looked for in MANUAL/<raw folder>/.")
    fetch_cmd.add_argument("dataset", choices=(*FETCH_TARGETS, "bert-base-uncased"))
    fetch_cmd.add_argument("--out", type=Path, default=Path("data/downloads"),
                           help="download root (default: data/downloads, where the pipeline's raw stage looks)")
    fetch_cmd.add_argument("--manual", type=Path, default=Path("data/manual"),
                           help="hand-placed files, dependencies of the raw stages (default: data/manual)")
    fetch_cmd.add_argument("--lock", type=Path, default=None, help="lock file (default: the package's)")
    fetch_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch_cmd.add_argument("--retrust", action="append", default=[], metavar="FILE",
                           help="forget the digest recorded at first use for FILE (e.g. moviescope/train.jsonl or "
                            "data/manual/moviescope/train.jsonl) and trust the hand-placed file now there; "
                            "refused for files pinned in the lock")
    fetch_cmd.set_defaults(func=_fetch)

    prepare_cmd = subparsers.add_parser(
        "prepare", help="turn raw files (real or synthetic) into the prepared-data format",
        description="Reads RAW exactly as the upstream downloads unpack and writes OUT/manifest.json, "
                    "OUT/<split>/<modality>.npy, label.npy, ids.json (docs/design.md §1), atomically.")
    prepare_cmd.add_argument("dataset", choices=DATASETS)
    prepare_cmd.add_argument("--raw", type=Path, required=True, help="raw folder of the dataset")
    prepare_cmd.add_argument("--out", type=Path, required=True, help="prepared-data folder to write")
    prepare_cmd.add_argument("--text-encoder", choices=TEXT_ENCODERS, default=None,
                             help="default: minilm (packaged, offline); bert-base-uncased is the paper's")
    cache_cmd = prepare_cmd.add_mutually_exclusive_group()
    cache_cmd.add_argument("--cache", type=Path, default=None,
                           help="text-encoding cache (default: OUT/../.text_cache)")
    cache_cmd.add_argument("--no-cache", action="store_true", help="do not cache text encodings")
    prepare_cmd.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                             help="override a DataConfig field, e.g. --set mmimdb_bow_vocab=5000")
    prepare_cmd.set_defaults(func=_prepare)

    synth_cmd = subparsers.add_parser(
        "synth", help="write a small synthetic dataset in the real raw format (the embedded default)",
        description="Labels fire when events co-occur in two modalities; see bpmult/data/synthetic.py.")
    synth_cmd.add_argument("dataset", choices=SYNTH_NAMES)
    synth_cmd.add_argument("--out", type=Path, required=True, help="raw folder to write")
    synth_cmd.add_argument("--seed", type=int, default=0, help="random seed of the synthetic set (default 0)")
    synth_cmd.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"samples (default {DEFAULT_SIZE})")
    synth_cmd.set_defaults(func=_synth)

    place_cmd = subparsers.add_parser(
        "place", help="link an upstream file or folder tree into data/manual, file by file (DVC sees each file)",
        description="Mirrors SOURCE at DEST as real folders holding one link per file (folder links inside SOURCE "
                    "are followed; the data stays where it is). DVC does not look inside a linked folder, so a "
                    "folder link in data/manual would hide placed or changed files from `dvc status`; the raw "
                    "stage refuses one and prints this command. Rerun it after files were added to or removed "
                    "from SOURCE. A real file in the way is never overwritten.")
    place_cmd.add_argument("source", type=Path, help="the upstream file or folder, e.g. /disk2/moviescope/200F_VGG16")
    place_cmd.add_argument("dest", type=Path, help="where it goes under data/manual, e.g. "
                           "data/manual/moviescope/200F_VGG16 (absent, a folder, or a link to SOURCE)")
    place_cmd.set_defaults(func=_place)


def _fetch(args: argparse.Namespace) -> int:
    if args.dataset == "bert-base-uncased":
        print(f"bert-base-uncased: in the Hugging Face cache at {fetch_bert()}")
        return 0
    def show(raw_dir: str, report) -> None:
        print("\n".join(report.lines))
        for notice in report.notices:
            print(f"note: {notice}", file=sys.stderr)
        for link in folder_links(args.manual / raw_dir):  # none when the folder is absent
            # fine for this command, which hashes what it reads; DVC's raw stage would not see inside
            print(f"note: {link} is a link to a folder, which the pipeline's raw stage refuses (DVC does not look "
                  f"inside it); replace it: bpmult place {os.path.realpath(link)} {link}", file=sys.stderr)
        print(f"raw folder: {args.out / raw_dir}", flush=True)

    fetch(args.dataset, out=args.out, manual=args.manual, lock_path=args.lock, retrust=tuple(args.retrust),
          progress=not args.no_progress and sys.stderr.isatty(), on_report=show)
    return 0


def _prepare(args: argparse.Namespace) -> int:
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
    start = time.perf_counter()
    record = synthesize(args.dataset, args.out, seed=args.seed, size=args.size)
    print(f"synthetic {record['dataset']} (seed {args.seed}, {args.size} samples) -> {args.out} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def _place(args: argparse.Namespace) -> int:
    counts = place(args.source, args.dest)
    print(f"placed {args.source} -> {args.dest}: {counts['linked']} file link(s) made, {counts['kept']} unchanged, "
          f"{counts['removed']} removed")
    return 0
