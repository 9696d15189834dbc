"""``bpmult notebook NAME --out PAGE.html -p KEY VALUE ...``: run a stage's notebook with Papermill.

The executed notebook lives in a temporary folder; the HTML is written atomically, so a failed run
leaves the previous page or none, never a half page. The kernel's own chatter (IPKernelApp warnings,
the interrupt notice at shutdown) is kept off the console; cell errors still surface. What a cell
writes to the kernel process's own stderr (``sys.__stderr__``, fd 2) reaches this process's stderr
and not the page: the train notebook's ``progress = "console"`` (what ``dvc.yaml`` passes) uses it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

# jsonschema (under nbformat) imports rfc3987_syntax only to check the "iri" string format, which
# no notebook schema uses; that module builds a Lark grammar on import: 0.7 s of every pipeline
# stage (docs/benchmarks.md, "Where make repro's time goes"). Marked absent for this process only;
# setdefault leaves it alone where something imported it first.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat
import papermill
from nbconvert import HTMLExporter

from bpmult.atomic import atomic_write_text
from bpmult.errors import debug_requested, report_errors

NOTEBOOKS = ("train", "tables", "figures")


def run_notebook(name: str, out_html: Path, parameters: dict[str, str], cwd: Path | None = None,
                 title: str | None = None) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with ``parameters`` and render it to ``out_html``."""
    cwd = Path(cwd or Path.cwd())
    source = cwd / "notebooks" / f"{name}.ipynb"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: notebook not found (expected notebooks/{name}.ipynb)")
    logging.getLogger("papermill").setLevel(logging.WARNING)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")  # the kernel inherits it
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / f"{name}.ipynb"
        papermill.execute_notebook(str(source), str(executed), parameters=parameters, kernel_name="python3",
                                   cwd=str(cwd), progress_bar=False, log_output=False, stderr_file=None,
                                   # the kernel's own log (transport warnings, the interrupt at shutdown) is noise;
                                   # its own stderr (fd 2) stays this process's: training progress goes there
                                   extra_arguments=["--IPKernelApp.log_level=CRITICAL",
                                                    "--IPKernelApp.capture_fd_output=False"])
        notebook = nbformat.read(executed, as_version=4)
        notebook.metadata["title"] = title or name
        # the pages are reports: outputs only (the code is in notebooks/)
        exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
        body, _ = exporter.from_notebook_node(notebook)
    atomic_write_text(Path(out_html), body)
    return Path(out_html)


def _title(name: str, parameters: dict[str, str]) -> str:
    if name == "train" and "dataset" in parameters:
        return f"bpmult · train · {parameters['dataset']} / {parameters.get('variant', '')} {parameters.get('modalities', '')}".strip()
    return f"bpmult · {name}"


def _cmd_notebook(args: argparse.Namespace) -> int:
    parameters = {k: v for k, v in args.p or []}
    run_notebook(args.name, Path(args.out), parameters, title=_title(args.name, parameters))
    print(f"wrote {args.out}")
    return 0


DESCRIPTION = ("Execute notebooks/NAME.ipynb top to bottom with the given parameters (Papermill) and write its "
               "outputs as an HTML page.")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=list(NOTEBOOKS), help="which notebook")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("-p", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a notebook parameter (repeatable); see the notebook's parameters cell")
    p.set_defaults(func=_cmd_notebook)


def add_commands(sub: argparse._SubParsersAction) -> None:
    _arguments(sub.add_parser("notebook", help="execute a pipeline notebook with Papermill and render it to HTML",
                              description=DESCRIPTION))


def main(argv: list[str] | None = None) -> int:
    """``python -m bpmult.stages.notebook NAME ...``: what ``dvc.yaml`` runs (no other verb imported)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bpmult notebook", description=DESCRIPTION)
    _arguments(parser)
    args = parser.parse_args([a for a in argv if a != "--debug"])
    return report_errors("bpmult notebook", lambda: args.func(args), debug=debug_requested(argv))


if __name__ == "__main__":
    sys.exit(main())
