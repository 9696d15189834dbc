"""``bpmult train``, ``bpmult summarize``, ``bpmult evaluate`` and ``bpmult predict``.

    bpmult train --dataset moviescope --model bpmult --data data/prepared/moviescope \\
                 --out runs/moviescope-bpmult [--seeds 1-5] [--profile paper] [--params FILE] \\
                 [--modalities TVAP|TVAPM] [--set train.lr=1e-4 ...] [--resume] [--no-progress]
    bpmult summarize runs/moviescope-bpmult
    bpmult evaluate runs/moviescope-bpmult --data data/prepared/moviescope [--split test] [--seed 1]
    bpmult predict runs/moviescope-bpmult --data data/prepared/moviescope --out preds.npz
"""

from __future__ import annotations

import argparse
import sys

from bpmult.experiment.evaluate import run_split, write_predictions
from bpmult.experiment.run import train_seeds
from bpmult.train.artifacts import summarize


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and ``summarize``."""
    p = subparsers.add_parser("train", help="train one model variant on a prepared dataset, for each seed",
                              description="Train, select on dev and test one (dataset, variant) for each seed; "
                                          "writes RUN/seed_<s>/{metrics.json,history.csv,predictions.npz,"
                                          "analysis.npz,config.json,checkpoint.pt,best.pt} and RUN/summary.json.")
    p.add_argument("--dataset", help="dataset name (moviescope, mmimdb, iemocap_aligned, iemocap_unaligned, "
                                     "mosei); default: the prepared data's manifest")
    p.add_argument("--model", required=True, help="model variant (see `bpmult models`)")
    p.add_argument("--data", required=True, help="prepared-data folder (written by `bpmult prepare`)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--seeds", help="seeds, e.g. 1-5 or 1,3 (default: the profile's)")
    p.add_argument("--profile", help="profile of the params file (default: its `profile` key)")
    p.add_argument("--params", help="params file (default: ./params.yaml, else the packaged copy)")
    p.add_argument("--modalities", help="TVAP (default where the data has a poster) or TVAPM (Moviescope + metadata)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. train.lr=1e-4, model.d_model=32, seeds=1-3 (repeatable)")
    p.add_argument("--resume", action="store_true",
                   help="continue interrupted seeds from their checkpoint.pt and keep finished ones")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    p.set_defaults(func=run_train)

    s = subparsers.add_parser("summarize", help="recompute RUN/summary.json from RUN/seed_*/metrics.json")
    s.add_argument("run", help="run folder")
    s.set_defaults(func=run_summarize)

    for verb, text in (("evaluate", "evaluate a trained run's best weights on a prepared split and print the metrics"),
                       ("predict", "write a trained run's predictions on a prepared split to an .npz file")):
        e = subparsers.add_parser(verb, help=text, description=text[0].upper() + text[1:] + ".")
        e.add_argument("run", help="run folder (RUN, holding seed_<s>/best.pt and config.json) or a seed folder")
        e.add_argument("--data", required=True, help="prepared-data folder with the inputs the model was trained on")
        e.add_argument("--split", default="test", choices=["train", "dev", "test"], help="which split (default test)")
        e.add_argument("--seed", type=int, help="which seed (default: the lowest trained one)")
        e.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
        e.add_argument("--batch-size", type=int, default=32, help="samples per forward pass (default 32)")
        if verb == "predict":
            e.add_argument("--out", required=True, help="the .npz to write (probs, labels, ids, label_names)")
        e.set_defaults(func=run_evaluate if verb == "evaluate" else run_predict)


def run_train(args: argparse.Namespace) -> int:
    summary = train_seeds(args.data, args.model, args.out, seeds=args.seeds, profile=args.profile,
                                overrides=args.overrides, resume=args.resume, params_path=args.params,
                                dataset=args.dataset, modalities=args.modalities, progress=args.progress,
                                device=args.device)
    _print_summary(summary, args.out)
    return 0


def run_summarize(args: argparse.Namespace) -> int:
    _print_summary(summarize(args.run), args.run)
    return 0


def _print_summary(summary: dict, run: str) -> None:
    metric = summary.get("selection_metric")
    lines = [f"{run}/summary.json: {summary.get('dataset')}/{summary.get('variant')}, seeds {summary['seeds']}"]
    for split in ("dev", "test"):
        entry = summary.get(split, {}).get(metric) or {}
        if entry.get("mean") is not None:
            lines.append(f"  {split} {metric}: {entry['mean']:.2f} ± {entry['std']:.2f} (n={entry['n']})")
    print("\n".join(lines), file=sys.stdout)
    sys.stdout.flush()


def _split(args: argparse.Namespace) -> dict:
    return run_split(args.run, args.data, split=args.split, seed=args.seed, device=args.device,
                     batch_size=args.batch_size)


def run_evaluate(args: argparse.Namespace) -> int:
    result = _split(args)
    print(f"{args.run}: {result['dataset']}/{result['variant']} seed {result['seed']} (best epoch "
          f"{result['best_epoch']}) on {args.data} {result['split']} ({len(result['ids'])} samples)")
    for key, value in result["metrics"].items():
        print(f"  {key}: {value:.4f}" if key == "loss" else f"  {key}: {value:.2f}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    result = _split(args)
    path = write_predictions(result, args.out)
    print(f"wrote {path}: probs {tuple(result['probs'].shape)} for {len(result['ids'])} {result['split']} samples "
          f"of {result['dataset']} ({result['variant']}, seed {result['seed']})")
    return 0
