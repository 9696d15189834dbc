"""Where a DVC temporary experiment finds the main checkout's downloads (issue 9, point 7).

DVC runs ``dvc exp run --temp`` and queued experiments in ``<repo>/.dvc/tmp/exps/.../tmpXXXX``, a
fresh git repository of its own (``git init`` + fetched refs), so git names no other checkout;
the only link to the main one is the path itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bpmult.stages import paths


def _git_init(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)


@pytest.mark.parametrize("where", [("standalone", "tmpab12cd"), ("tmpq9x8y7",)], ids=["temp", "queue"])
def test_a_temporary_experiment_uses_the_main_checkouts_data(tmp_path, monkeypatch, where):
    main = tmp_path / "project"
    _git_init(main)
    executor = main.joinpath(".dvc", "tmp", "exps", *where)
    _git_init(executor)  # DVC's executor: a repository of its own
    monkeypatch.delenv("BPMULT_DATA_ROOT", raising=False)
    monkeypatch.chdir(executor)
    assert paths.data_root().resolve() == main.resolve()
    assert paths.downloads().resolve() == (main / "data" / "downloads").resolve()
    assert paths.text_cache().resolve() == (main / ".cache" / "text").resolve()


def test_the_environment_wins_and_a_plain_checkout_is_its_own_root(tmp_path, monkeypatch):
    _git_init(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.delenv("BPMULT_DATA_ROOT", raising=False)
    assert paths.data_root() == Path(".")
    monkeypatch.setenv("BPMULT_DATA_ROOT", str(tmp_path / "shared"))
    assert paths.data_root() == tmp_path / "shared"
