"""``bpmult stage raw|prepare ...`` and ``bpmult report`` (the report index) for the console script."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bpmult.errors import debug_requested, report_errors
from bpmult.stages.data import STAGE_DESCRIPTION, stage_arguments


def _cmd_report(args: argparse.Namespace) -> int:
    from bpmult import pipeline  # deferred: keeps the report's modules (torch, models) out of the data stages

    pipeline.report_stage(reports_dir=Path(args.reports), prepared_dir=Path(args.prepared), runs_dir=Path(args.runs),
                          params_path=args.params, claims_json_path=Path(args.claims))
    print(f"wrote {Path(args.reports) / 'index.html'}, {Path(args.reports) / 'claims.html'} and {args.claims}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    stage_arguments(sub.add_parser("stage", help="run one data stage of the pipeline under the active profile",
                                   description=STAGE_DESCRIPTION))

    p = sub.add_parser("report", help="write reports/index.html (headline, claims, every table and figure) and the "
                                      "claims check (reports/claims.html, metrics/claims.json)")
    p.add_argument("--reports", default="reports", help="the reports folder")
    p.add_argument("--prepared", default="data/prepared", help="the prepared-data folder")
    p.add_argument("--runs", default="runs", help="the runs folder, or a folder of <run>.json summaries")
    p.add_argument("--claims", default="metrics/claims.json", help="the claims JSON to write")
    p.add_argument("--params", default="params.yaml", help="params file")
    p.set_defaults(func=_cmd_report)


def main(argv: list[str] | None = None) -> int:
    """``python -m bpmult.stages.commands stage|report ...``: what ``dvc.yaml`` runs."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bpmult")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([a for a in argv if a != "--debug"])
    return report_errors(f"bpmult {args.command}", lambda: args.func(args), debug=debug_requested(argv))


if __name__ == "__main__":
    sys.exit(main())
