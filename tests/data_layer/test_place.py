"""`bpmult place` and the raw stage's refusal of folder links (issue 9: `dvc status` after placing
or changing a hand-placed file reports the raw stage as changed).

DVC's own walk does not enter linked folders, so the check that matters is real DVC: a stage
depending on ``data/manual/<folder>`` must be reported changed after a file behind a (nested)
folder link changes, once the folder was placed with ``bpmult place``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpmult.cli import main as bpmult
from bpmult.data.place import PlaceError, folder_links, place, refuse_folder_links

BIN = Path(sys.executable).parent


def _tree(root: Path) -> Path:
    """An upstream-like tree: files, a sub-folder, and a sub-folder that is a link to another disk."""
    (root / "features" / "part").mkdir(parents=True)
    (root / "train.jsonl").write_text('{"id": "m1"}\n')
    (root / "features" / "m1.p").write_bytes(b"\x80\x02K\x01.")
    (root / "features" / "part" / "m2.p").write_bytes(b"\x80\x02K\x02.")
    disk = root.parent / "second-disk" / "frames"
    disk.mkdir(parents=True)
    (disk / "m1.p").write_bytes(b"frame-1")
    (disk / "m2.p").write_bytes(b"frame-2")
    (root / "frames").symlink_to(disk, target_is_directory=True)
    return root


def _links(dest: Path) -> dict[str, str]:
    return {p.relative_to(dest).as_posix(): os.readlink(p) for p in sorted(dest.rglob("*")) if p.is_symlink()}


def test_place_mirrors_a_tree_as_file_links_through_nested_folder_links(tmp_path):
    source = _tree(tmp_path / "upstream" / "moviescope")
    dest = tmp_path / "manual" / "moviescope"
    counts = place(source, dest)
    assert counts == {"linked": 5, "kept": 0, "removed": 0}
    links = _links(dest)
    assert sorted(links) == ["features/m1.p", "features/part/m2.p", "frames/m1.p", "frames/m2.p", "train.jsonl"]
    assert links["frames/m1.p"] == str(source / "frames" / "m1.p")  # through the user's own link
    assert (dest / "frames" / "m2.p").read_bytes() == b"frame-2"
    assert not folder_links(dest) and not (dest / "frames").is_symlink()


def test_place_again_adds_keeps_and_removes_only_its_own_links(tmp_path):
    source = _tree(tmp_path / "upstream" / "ms")
    dest = tmp_path / "manual" / "ms"
    dest.mkdir(parents=True)
    (dest / "README.md").write_text("kept\n")
    place(source, dest)
    (source / "features" / "m1.p").unlink()
    (source / "features" / "m3.p").write_bytes(b"3")
    assert place(source, dest) == {"linked": 1, "kept": 4, "removed": 1}
    assert "features/m1.p" not in _links(dest) and (dest / "features" / "m3.p").read_bytes() == b"3"
    assert (dest / "README.md").read_text() == "kept\n"


def test_a_folder_link_to_the_same_data_is_replaced_and_the_data_stays(tmp_path):
    source = _tree(tmp_path / "upstream" / "ms")
    dest = tmp_path / "manual" / "frames"
    dest.parent.mkdir()
    dest.symlink_to(source / "frames", target_is_directory=True)
    with pytest.raises(PlaceError, match="a link to a folder"):
        refuse_folder_links(tmp_path / "manual")
    place(os.path.realpath(dest), dest)
    assert not dest.is_symlink() and sorted(_links(dest)) == ["m1.p", "m2.p"]
    assert (tmp_path / "upstream" / "second-disk" / "frames" / "m1.p").read_bytes() == b"frame-1"
    assert [p.name for p in dest.parent.iterdir()] == ["frames"]  # no staging leftovers
    refuse_folder_links(tmp_path / "manual")


@pytest.mark.parametrize("case", ["missing", "other-link", "real-file", "inside", "cycle", "broken"])
def test_placements_that_cannot_be_made_are_one_line_errors_and_change_nothing(tmp_path, case):
    source = _tree(tmp_path / "upstream" / "ms")
    dest = tmp_path / "manual" / "ms"
    dest.parent.mkdir()
    expected = {"missing": "does not exist", "other-link": "already a link to", "real-file": "never overwritten",
                "inside": "inside or around", "cycle": "a link back to", "broken": "a broken link"}[case]
    if case == "missing":
        source = tmp_path / "nowhere"
    elif case == "other-link":
        dest.symlink_to(tmp_path, target_is_directory=True)
    elif case == "real-file":
        (dest / "features").mkdir(parents=True)
        (dest / "features" / "m1.p").write_bytes(b"the user's own copy")
    elif case == "inside":
        dest = source / "features" / "mirror"
    elif case == "cycle":
        (source / "features" / "loop").symlink_to(source, target_is_directory=True)
    elif case == "broken":
        (source / "features" / "gone.p").symlink_to(tmp_path / "gone.p")
    before = _links(tmp_path / "manual")
    with pytest.raises(PlaceError, match=expected) as err:
        place(source, dest)
    assert "\n" not in str(err.value)
    if case == "real-file":
        assert (dest / "features" / "m1.p").read_bytes() == b"the user's own copy"
    if case != "real-file":
        assert _links(tmp_path / "manual") == before


def test_the_console_verb_prints_counts_and_one_line_errors(tmp_path, capsys):
    source = _tree(tmp_path / "upstream" / "ms")
    assert bpmult(["place", str(source), str(tmp_path / "manual" / "ms")]) == 0
    assert "5 file link(s) made" in capsys.readouterr().out
    assert bpmult(["place", str(tmp_path / "nowhere"), str(tmp_path / "manual" / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bpmult place: error: ") and "nowhere" in err and "\n" not in err


def _dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "dvc"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _status_changed(root: Path) -> set[str]:
    out = _dvc(root, "status").stdout
    return {line[:-1] for line in out.splitlines() if line.endswith(":") and not line.startswith(("\t", " "))}


def test_real_dvc_sees_a_change_behind_a_nested_folder_link_only_once_placed(tmp_path):
    """Folder links: DVC does not see the change (why the raw stage refuses them). File links made
    by `bpmult place`: it does, for that stage only."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert _dvc(root, "init", "-q").returncode == 0
    _dvc(root, "config", "core.analytics", "false")
    for name in ("ms", "other"):
        (root / "manual" / name).mkdir(parents=True)
        (root / "manual" / name / "README.md").write_text(name)
    source = _tree(tmp_path / "upstream" / "ms")
    (root / "manual" / "ms" / "frames").symlink_to(source / "frames", target_is_directory=True)
    (root / "dvc.yaml").write_text(
        "stages:\n  raw:\n    foreach: [ms, other]\n    do:\n      cmd: ls -R manual/${item} > listing-${item}\n"
        "      deps:\n        - manual/${item}\n      outs:\n        - listing-${item}\n")
    assert _dvc(root, "repro", "-q").returncode == 0
    frame = tmp_path / "upstream" / "second-disk" / "frames" / "m1.p"
    frame.write_bytes(b"frame-1 changed")
    assert _status_changed(root) == set()  # the blind spot the raw stage refuses
    link = root / "manual" / "ms" / "frames"
    assert bpmult(["place", os.path.realpath(link), str(link)]) == 0
    assert _status_changed(root) == {"raw@ms"}
    assert _dvc(root, "repro", "-q").returncode == 0 and _status_changed(root) == set()
    frame.write_bytes(b"frame-1 changed again")
    assert _status_changed(root) == {"raw@ms"}


def test_bpmult_fetch_notes_a_folder_link_the_raw_stage_would_refuse(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from bpmult.data import commands

    manual = tmp_path / "manual"
    (manual / "moviescope").mkdir(parents=True)
    source = _tree(tmp_path / "upstream" / "ms")
    (manual / "moviescope" / "200F_VGG16").symlink_to(source / "frames", target_is_directory=True)
    monkeypatch.setattr(commands, "fetch", lambda *a, on_report, **k: on_report(
        "moviescope", SimpleNamespace(lines=["placed   moviescope/200F_VGG16"], notices=[])))
    assert bpmult(["fetch", "moviescope", "--manual", str(manual), "--out", str(tmp_path / "downloads")]) == 0
    err = capsys.readouterr().err
    assert f"note: {manual / 'moviescope' / '200F_VGG16'} is a link to a folder" in err
    assert f"bpmult place {os.path.realpath(source / 'frames')} {manual / 'moviescope' / '200F_VGG16'}" in err
