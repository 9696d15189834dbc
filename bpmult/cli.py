"""The ``bpmult`` console script.

Each area of the package contributes its own sub-commands through an ``add_commands(subparsers)``
function; this module only collects them, so the areas stay independent.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bpmult.errors import debug_requested, report_errors

# command -> the module that defines it through add_commands(subparsers); each sub-parser sets
# ``func`` to a callable(args) -> int. Only the module of the command being run is imported, so a
# command does not pay for the imports of the others (torch, scikit-learn, papermill).
COMMANDS = {
    "check-mult": "bpmult.models.commands", "check-authors": "bpmult.models.commands", "models": "bpmult.models.commands",
    "fetch": "bpmult.data.commands", "prepare": "bpmult.data.commands", "synth": "bpmult.data.commands",
    "place": "bpmult.data.commands",
    "train": "bpmult.experiment.commands", "summarize": "bpmult.experiment.commands",
    "evaluate": "bpmult.experiment.commands", "predict": "bpmult.experiment.commands",
    "bench": "bpmult.bench", "plan": "bpmult.plan",
    "notebook": "bpmult.stages.notebook", "stage": "bpmult.stages.commands", "report": "bpmult.stages.commands",
    "check-data": "bpmult.stages.readiness",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or only ``command``'s module when it is known."""
    parser = argparse.ArgumentParser(
        prog="bpmult", description="bpmult: the BPMuLT reproduction package — fetch and prepare the datasets, "
        "train the models over seeds, check parity with official MuLT and the authors' code, and render the report.",
        epilog="Add --debug (or set BPMULT_DEBUG=1) to see a traceback instead of the one-line error.")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_commands(sub)
    return parser


RESUME_HINTS = {"train": "rerun the same command with --resume to continue",
                "prepare": "rerun the same command; nothing half-written was kept"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    # errors of the package name the file, key and expectation: print them, not a stack trace
    return report_errors(f"bpmult {args.command}", lambda: args.func(args), debug=debug,
                         resume_hint=RESUME_HINTS.get(args.command))


if __name__ == "__main__":
    sys.exit(main())
