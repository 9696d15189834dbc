"""How a command reports an error a user can cause: one line, exit status 2, no traceback.

Errors of the package name the file, the key and what was expected; the command prints exactly
that. ``--debug`` or ``BPMULT_DEBUG=1`` shows the traceback instead. Ctrl-C prints the one line a
user needs to continue.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Callable

# what a user can cause: bad files, bad settings, a full disk, a locked run folder
USER_ERRORS = (FileNotFoundError, ValueError, KeyError, RuntimeError, PermissionError, IsADirectoryError,
               NotADirectoryError, UnicodeDecodeError)


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("BPMULT_DEBUG", "") not in ("", "0")


def report_errors(prog: str, run: Callable[[], int], *, debug: bool = False, resume_hint: str | None = None) -> int:
    """Run ``run()``; turn the errors a user can cause into one line on stderr and exit status 2."""
    try:
        return int(run() or 0)
    except KeyboardInterrupt:
        hint = f"; {resume_hint}" if resume_hint else ""
        print(f"{prog}: interrupted{hint}", file=sys.stderr)
        return 130
    except OSError as err:
        if debug:
            raise
        if err.errno == errno.ENOSPC:
            where = f" while writing {err.filename}" if err.filename else ""
            print(f"{prog}: error: no space left on the device{where}; free some space and rerun", file=sys.stderr)
        else:
            where = f"{err.filename}: " if err.filename else ""
            print(f"{prog}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except USER_ERRORS as err:
        if debug:
            raise
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
