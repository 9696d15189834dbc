"""The ``bpmult`` console script.

Each area of the package contributes its own sub-commands through an ``add_commands(subparsers)``
function; this module only collects them, so the areas stay independent.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# modules that define add_commands(subparsers); each sub-parser sets ``func`` to a callable(args) -> int
COMMAND_MODULES = (
    "bpmult.models.commands",   # check-mult, models
    "bpmult.data.commands",     # fetch, prepare, synth
    "bpmult.train_commands",    # train, summarize
    "bpmult.report_commands",   # tables, figures, report helpers
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpmult", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # area not present in this build
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        # errors of the package name the file, key and expectation: print them, not a stack trace
        print(f"bpmult {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
