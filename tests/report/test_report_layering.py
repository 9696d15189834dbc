"""The report reads what the stages wrote; it never imports the stage layer or the training code."""

import ast
from pathlib import Path

import bpmult.report

PACKAGE = Path(bpmult.report.__file__).parent
FORBIDDEN = ("bpmult.pipeline", "bpmult.stages", "bpmult.experiment", "bpmult.train", "bpmult.models")
ALLOWED = ("bpmult.train.metrics",)  # the paper's metrics, for the label-prior row


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_report_never_imports_the_stage_layer():
    offenders = {p.name: sorted(n for n in _imports(p) if n.startswith(FORBIDDEN) and not n.startswith(ALLOWED))
                 for p in sorted(PACKAGE.glob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_report_modules_are_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) < 400, sizes
