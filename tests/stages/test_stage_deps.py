"""dvc.yaml's code dependencies are exactly what each stage's command imports.

For every stage: start a fresh interpreter, import the module its command runs (``python -m X``)
and every ``bpmult`` module its notebook imports, and list the ``bpmult`` files that got loaded.
Each such file must lie under one of the stage's deps (else a code change would leave stale results
marked current), and each ``bpmult/`` dep must hold at least one of them (else an unrelated change
would rerun the stage: on the paper profile, GPU-days).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
files = sorted({m.__file__ for n, m in list(sys.modules.items())
                if (n == "bpmult" or n.startswith("bpmult.")) and getattr(m, "__file__", None)})
print(json.dumps(files))
"""


def _stages() -> list[tuple[str, dict]]:
    out = []
    for name, stage in DVC["stages"].items():
        body = stage.get("do", stage)
        out.append((name, body))
    return out


def _command_module(cmd: str) -> str:
    match = re.search(r"python -m ([\w.]+)", cmd)
    assert match, f"stage command {cmd!r} must run its stage module as `python -m bpmult.stages.<x>`"
    return match.group(1)


def _notebook_modules(cmd: str) -> list[str]:
    match = re.search(r"bpmult\.stages\.notebook (\w+)", cmd)
    if not match:
        return []
    nb = nbformat.read(REPO / "notebooks" / f"{match.group(1)}.ipynb", as_version=4)
    modules = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bpmult"):
                modules.append(node.module)
                modules += [f"{node.module}.{a.name}" for a in node.names
                            if (REPO / node.module.replace(".", "/") / f"{a.name}.py").is_file()]
            elif isinstance(node, ast.Import):
                modules += [a.name for a in node.names if a.name.startswith("bpmult")]
    return modules


def _loaded_files(modules: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return [str(Path(f).resolve().relative_to(REPO)) for f in json.loads(out.strip().splitlines()[-1])]


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.parametrize("name,stage", _stages(), ids=[n for n, _ in _stages()])
def test_stage_code_deps_are_exactly_its_imports(name, stage):
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
    modules = [_command_module(stage["cmd"]), *_notebook_modules(stage["cmd"])]
    loaded = _loaded_files(modules)
    missing = [f for f in loaded if not _covered(f, deps)]
    assert not missing, f"stage {name}: imports {missing} but dvc.yaml does not list them (or a folder above)"
    code_deps = [d for d in deps if d.startswith("bpmult/") and not d.startswith("bpmult/resources/")]
    unused = [d for d in code_deps if not any(_covered(f, [d]) for f in loaded)]
    assert not unused, f"stage {name}: deps {unused} are never imported; an edit there would rerun it for nothing"


def test_no_function_local_imports_of_bpmult_without_a_reason():
    """Imports inside functions hide the import graph (and so the stages' deps); only deferred
    heavy optional dependencies may stay, each marked ``# deferred: <reason>``."""
    offenders = []
    for path in sorted((REPO / "bpmult").rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                names = ([sub.module or ""] if isinstance(sub, ast.ImportFrom)
                         else [a.name for a in sub.names] if isinstance(sub, ast.Import) else [])
                if any(n == "bpmult" or n.startswith("bpmult.") for n in names):
                    if "# deferred:" not in lines[sub.lineno - 1]:
                        offenders.append(f"{path.relative_to(REPO)}:{sub.lineno}")
    assert not offenders, f"function-local imports of bpmult modules: {offenders}"


def test_the_dag_links_every_stage_to_what_it_reads():
    """Every stage reads what an earlier stage writes: raw → prepare → train → tables/figures → report."""
    out = subprocess.run([str(Path(sys.executable).parent / "dvc"), "dag", "--dot"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', out.stdout))
    for raw, prepared in (("moviescope", "moviescope"), ("iemocap", "iemocap_aligned"), ("iemocap", "iemocap_unaligned"),
                          ("mmimdb", "mmimdb"), ("mosei", "mosei")):
        assert (f"raw@{raw}", f"prepare@{prepared}") in edges
    assert ("prepare@moviescope", "train@moviescope-bpmult") in edges
    assert ("train@moviescope-bpmult", "figures") in edges and ("train@mosei-mult", "tables") in edges
    assert ("tables", "report") in edges and ("figures", "report") in edges
