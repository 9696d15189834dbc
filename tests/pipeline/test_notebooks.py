"""The notebooks are thin pipeline dependencies: no outputs, one literal parameters cell, no defs."""

import ast
from pathlib import Path

import nbformat
import pytest

from bpmult import pipeline

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["figures", "tables", "train"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_and_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for node in ast.parse(params[0].source).body:  # literals only
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
    for cell in code:
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree))
        assert "!pip" not in cell.source


def test_use_repo_root_finds_dvc_yaml_above(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    inner = tmp_path / "notebooks"
    inner.mkdir()
    monkeypatch.chdir(inner)
    assert pipeline.use_repo_root() == tmp_path.resolve()
    assert Path.cwd() == tmp_path.resolve()


def test_use_repo_root_outside_a_repository_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="dvc.yaml"):
        pipeline.use_repo_root()
