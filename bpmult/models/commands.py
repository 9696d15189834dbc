"""Commands of the models area: ``bpmult check-mult FILE.npz``, ``bpmult check-authors FILE.npz`` and
``bpmult models``."""

from __future__ import annotations

import argparse
import json

import torch

from bpmult.models.definitions import DEFINITIONS, definition_overrides
from bpmult.models.official import check_reference
from bpmult.models.presets import DATASET_PRESETS, dataset_config
from bpmult.models.registry import VARIANTS, build_model, count_parameters
from bpmult.models.authors import check_authors

PARITY_ATOL = 1e-5


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``check-mult`` and ``models`` on the ``bpmult`` parser."""
    check = subparsers.add_parser(
        "check-mult",
        help="compare our MuLT with an official MuLT reference file (.npz)",
        description="Load the official weights of FILE into our MuLT, run its inputs in eval mode (float32) and "
        "print the largest absolute differences of the logits and last_hs; exit 1 if one exceeds --atol.",
    )
    check.add_argument("file", help="reference .npz (config, input.*, output.*, param.<official name>)")
    check.add_argument("--atol", type=float, default=PARITY_ATOL, help=f"tolerance (default {PARITY_ATOL:g})")
    check.set_defaults(func=run_check_mult)

    authors = subparsers.add_parser(
        "check-authors",
        help="compare our model with a reference file of the authors' BPMuLT or of MuLT-GMU (.npz)",
        description="Build the variant and options that FILE's config.bpmult names, load the authors' weights "
        "through the total name map, run the inputs in eval mode in float64 and print the largest absolute "
        "differences of the logits and the final-GMU gates; exit 1 if one exceeds --atol.",
    )
    authors.add_argument("file", help="reference .npz (format bpmult-authors-reference/1)")
    authors.add_argument("--atol", type=float, default=PARITY_ATOL, help=f"tolerance (default {PARITY_ATOL:g})")
    authors.add_argument(
        "--set", action="append", default=[], metavar="FIELD=JSON",
        help="override a ModelConfig field of the file's options, e.g. --set token='\"last\"' (negative controls)",
    )
    authors.set_defaults(func=run_check_authors)

    models = subparsers.add_parser(
        "models",
        help="list the model variants with their parameter counts",
        description="List every registered variant with its parameter count at a dataset's dims and paper sizes.",
    )
    models.add_argument("--dataset", choices=sorted(DATASET_PRESETS), help="one dataset (default: all)")
    models.add_argument(
        "--definition", choices=DEFINITIONS,
        help="apply a named model definition (authors: the released code; paper: the text) on top of each variant",
    )
    models.set_defaults(func=run_models)


def run_check_mult(args: argparse.Namespace) -> int:
    """``bpmult check-mult``: 0 when both differences are within ``--atol``, else 1."""
    diffs = check_reference(args.file)
    ok = all(value <= args.atol for value in diffs.values())
    for key, value in diffs.items():
        print(f"{key:8s} max |ours - official| = {value:.3e}")
    print(f"{'PASS' if ok else 'FAIL'}: tolerance {args.atol:g} ({args.file})")
    return 0 if ok else 1


def parse_sets(items: list[str]) -> dict[str, object]:
    """``["token=\"last\"", "attn_mask=false"]`` -> ``{"token": "last", "attn_mask": False}``;
    a value that is not JSON is taken as a string."""
    out: dict[str, object] = {}
    for item in items:
        field, sep, raw = item.partition("=")
        if not sep or not field:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[field] = json.loads(raw)
        except json.JSONDecodeError:
            out[field] = raw
    return out


def run_check_authors(args: argparse.Namespace) -> int:
    """``bpmult check-authors``: 0 when logits and gates are within ``--atol`` (float64), else 1."""
    diffs = check_authors(args.file, **parse_sets(args.set))
    ok = all(value <= args.atol for value in diffs.values())
    for key, value in diffs.items():
        print(f"{key:8s} max |ours - authors| = {value:.3e}")
    print(f"{'PASS' if ok else 'FAIL'}: tolerance {args.atol:g}, float64 ({args.file})")
    return 0 if ok else 1


def parameter_count(variant: str, dataset: str, definition: str | None = None) -> int | None:
    """Parameters of ``variant`` at ``dataset``'s preset (and ``definition``'s options), built on the
    meta device (no memory); None when the variant does not apply (the GMU baseline needs an extra
    vector)."""
    overrides = definition_overrides(definition, dataset, variant) if definition else {}
    try:
        cfg = dataset_config(variant, dataset, **overrides)
    except ValueError:
        if variant == "gmu":
            return None
        raise
    with torch.device("meta"):
        return count_parameters(build_model(cfg))


def run_models(args: argparse.Namespace) -> int:
    """``bpmult models``: a table of variants x datasets with parameter counts."""
    datasets = [args.dataset] if args.dataset else list(DATASET_PRESETS)
    name_width = max(len(v) for v in VARIANTS)
    print(f"{'variant':{name_width}s}  " + "  ".join(f"{d:>12s}" for d in datasets) + "  description")
    for variant, description in VARIANTS.items():
        counts = [parameter_count(variant, d, args.definition) for d in datasets]
        cells = "  ".join(f"{c:>12,d}" if c is not None else f"{'n/a':>12s}" for c in counts)
        print(f"{variant:{name_width}s}  {cells}  {description}")
    sizes = "; ".join(
        "{}: d {d_model}, {num_heads} heads, {layers} layers".format(d, **DATASET_PRESETS[d]) for d in datasets
    )
    print(f"sizes: {sizes}")
    if args.definition:
        print(f"definition: {args.definition} (bpmult.models.definitions)")
    return 0
