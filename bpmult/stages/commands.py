"""``bpmult stage raw|prepare ...`` and ``bpmult report`` (the report index) for the console script."""

from __future__ import annotations

import argparse
import sys

from bpmult.errors import debug_requested, report_errors
from bpmult.stages.data import STAGE_DESCRIPTION, stage_arguments
from bpmult.stages.paths import REPORT_DESCRIPTION, report_arguments


def _cmd_report(args: argparse.Namespace) -> int:
    from bpmult import pipeline  # deferred: keeps the report's modules (torch, models) out of the data stages

    return pipeline.run_report(args)


def add_commands(sub: argparse._SubParsersAction) -> None:
    stage_arguments(sub.add_parser("stage", help="run one data stage of the pipeline under the active profile",
                                   description=STAGE_DESCRIPTION))

    p = sub.add_parser("report", help=REPORT_DESCRIPTION, description=REPORT_DESCRIPTION)
    report_arguments(p)
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
