"""`bpmult notebook` (what every pipeline stage runs): a real Papermill kernel. Training progress
written to the kernel's own stderr reaches the terminal running the pipeline and stays out of
the HTML page; what a cell writes to the notebook's streams stays in the page (issue 13: quiet
by default, progress on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]


def test_kernel_stderr_reaches_the_console_and_not_the_page(tmp_path):
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"},
                                                  "language_info": {"name": "python"}})
    notebook.cells = [
        nbformat.v4.new_code_cell("progress = True", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import sys\nprint('in-the-page')\n"
                                  "sys.__stderr__.write(f'epoch-line progress={progress}\\n')\n"
                                  "sys.__stderr__.flush()"),
    ]
    nbformat.write(notebook, tmp_path / "notebooks" / "probe.ipynb")
    page = tmp_path / "probe.html"
    code = ("import sys; from bpmult.stages import notebook; notebook.NOTEBOOKS = ('probe',); "
            "sys.exit(notebook.main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "probe", "--out", str(page), "-p", "progress", "console"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epoch-line progress=console" in result.stderr
    html = page.read_text()
    assert "in-the-page" in html and "epoch-line" not in html
    assert "IPKernelApp" not in result.stderr and "KeyboardInterrupt" not in result.stderr


def test_the_runner_skips_the_iri_grammar_and_still_validates_notebooks():
    # jsonschema's optional "iri" checker (rfc3987_syntax) costs 0.7 s per stage and no notebook schema
    # uses it; validation itself must still reject a malformed notebook in the runner's process
    code = ("import sys; import bpmult.stages.notebook, nbformat\n"
            "assert sys.modules['rfc3987_syntax'] is None, 'the iri grammar was imported'\n"
            "good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
            "nbformat.validate(good)\n"
            "bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]); bad.cells[0]['outputs'] = 'x'\n"
            "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    print('rejected')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "rejected"
