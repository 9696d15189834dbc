"""Issue 8, data layer: no import circle, no hidden imports of bpmult modules, one place for the
facts of each dataset, and prepared data reproducible byte for byte."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np

import bpmult
from bpmult.data import FACTS, prepare
from bpmult.data.facts import DATASETS

PACKAGE = Path(bpmult.__file__).parent
DATA_MODULES = sorted((PACKAGE / "data").glob("*.py")) + [PACKAGE / "atomic.py"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bpmult"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("bpmult"))
    return found


def test_the_data_layer_has_no_import_circle():
    modules = {_module_name(p): p for p in DATA_MODULES}
    graph = {name: {m for m in _top_level_imports(path) if m in modules and m != name and m != "bpmult.data"}
             for name, path in modules.items() if name != "bpmult.data"}
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError("import circle: " + " -> ".join([*trail, node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])


def test_no_function_local_import_of_bpmult_and_every_deferred_import_says_why():
    for path in DATA_MODULES:
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    names = [inner.module] if isinstance(inner, ast.ImportFrom) else [a.name for a in inner.names]
                    where = f"{path.name}:{inner.lineno}"
                    assert not any(n and n.startswith("bpmult") for n in names), f"{where}: local import of bpmult"
                    line = lines[inner.lineno - 1]
                    assert "(" in line.partition("#")[2], f"{where}: a deferred import needs a one-line reason"


def test_facts_agree_with_the_label_orders_of_the_dataset_modules_and_the_metrics():
    import importlib

    from bpmult.data import iemocap, mmimdb, mosei, moviescope

    # the metrics module moved into the train package (issue 8); accept either place
    metrics = None
    for where in ("bpmult.train.metrics", "bpmult.metrics"):
        try:
            metrics = importlib.import_module(where)
            break
        except ImportError:
            continue

    assert (moviescope.LABELS, mmimdb.LABELS, mosei.LABELS, iemocap.LABELS) == (
        FACTS["moviescope"].label_names, FACTS["mmimdb"].label_names, FACTS["mosei"].label_names,
        FACTS["iemocap_aligned"].label_names)
    assert {name: f.selection_metric for name, f in FACTS.items()} == metrics.SELECTION_METRIC
    assert metrics.MOSEI_EMOTIONS == FACTS["mosei"].label_names
    assert metrics.IEMOCAP_EMOTIONS == FACTS["iemocap_unaligned"].label_names


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_re_preparing_identical_raw_data_gives_identical_bytes(synthetic_raw, fake_encoder, tmp_path):
    for name in DATASETS:
        raw = synthetic_raw(name)
        first = tmp_path / "a" / name
        prepare(name, raw, first, encoder=fake_encoder, cache_dir=tmp_path / "cache")
        again = tmp_path / "b" / name
        prepare(name, raw, again, encoder=fake_encoder, cache_dir=None)  # without the cache: same bytes
        files = _tree(first)
        assert files == _tree(again), name
        assert "manifest.json" in files and any(k.endswith("label.npy") for k in files)
        assert "created" not in (first / "manifest.json").read_text()
        prepare(name, raw, first, encoder=fake_encoder, cache_dir=tmp_path / "cache")  # in place, over itself
        assert _tree(first) == files
        assert np.load(first / "train" / "label.npy").shape[0] > 0


def test_the_one_json_format_is_strict_and_numpy_aware(tmp_path):
    import json
    import math

    from bpmult.atomic import atomic_savez, atomic_write_json

    path = atomic_write_json(tmp_path / "m.json", {"x": float("nan"), "y": np.float32(2.5), "z": (1, np.int64(2)),
                                                 "p": tmp_path, "b": np.bool_(True), "a": np.arange(2)})
    assert json.loads(path.read_text()) == {"x": None, "y": 2.5, "z": [1, 2], "p": str(tmp_path), "b": True,
                                            "a": [0, 1]}
    assert "NaN" not in path.read_text() and path.read_text().endswith("\n") and not math.isnan(2.5)
    archive = atomic_savez(tmp_path / "a.npz", {"v": np.arange(3)})
    assert np.load(archive, allow_pickle=False)["v"].tolist() == [0, 1, 2]


def test_prepared_manifests_match_the_facts(synthetic_raw, fake_encoder, tmp_path):
    for name in DATASETS:
        manifest = prepare(name, synthetic_raw(name), tmp_path / name, encoder=fake_encoder, cache_dir=None)
        facts = FACTS[name]
        assert manifest["task"] == facts.task and manifest["label_names"] == list(facts.label_names)
        assert set(facts.modalities) <= set(manifest["modalities"]) <= {*facts.modalities, *facts.optional_modalities}
        assert manifest["dtypes"]["label"] == facts.label_dtype
        assert bool(manifest["lengths"]) == facts.audio_is_spectrogram
