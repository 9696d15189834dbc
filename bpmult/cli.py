"""The ``bpmult`` console script.

Each area of the package contributes its own sub-commands through an ``add_commands(subparsers)``
function; this module only collects them, so the areas stay independent.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> the module that defines it through add_commands(subparsers); each sub-parser sets
# ``func`` to a callable(args) -> int. Only the module of the command being run is imported, so a
# command does not pay for the imports of the others (torch, scikit-learn, papermill).
COMMANDS = {
    "check-mult": "bpmult.models.commands", "models": "bpmult.models.commands",
    "fetch": "bpmult.data.commands", "prepare": "bpmult.data.commands", "synth": "bpmult.data.commands",
    "train": "bpmult.train_commands", "summarize": "bpmult.train_commands",
    "bench": "bpmult.bench",
    "notebook": "bpmult.report_commands", "stage": "bpmult.report_commands", "report": "bpmult.report_commands",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or only ``command``'s module when it is known."""
    parser = argparse.ArgumentParser(prog="bpmult", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        # errors of the package name the file, key and expectation: print them, not a stack trace
        print(f"bpmult {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
