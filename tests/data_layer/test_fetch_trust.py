"""Issue 11, fetch: nothing trusted by accident. A download whose length could not be checked is
never recorded as trusted; a corrected hand-placed file is re-trusted by one documented command;
a damaged lock or record is one line naming it. Each case: exit code, one line, nothing else changed."""

from __future__ import annotations

import hashlib
import json

import pytest

from bpmult import cli
from bpmult.data import registry
from bpmult.data.fetch import Source, default_lock_path

from .test_faults import assert_one_line, snapshot
from .test_fetch import PAYLOAD, server  # noqa: F401 (the fixture)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fetch_cli(tmp_path, monkeypatch, capsys):
    """``fetch_cli(sources, *extra) -> (code, stderr)``: ``bpmult fetch toy`` with the given sources."""

    def call(sources, *extra):
        monkeypatch.setitem(registry.FETCH_TARGETS, "iemocap", {"toy": tuple(sources)})
        argv = ["fetch", "iemocap", "--out", str(tmp_path / "downloads"), "--manual", str(tmp_path / "manual"),
                "--no-progress", *map(str, extra)]
        code = cli.main(argv)
        return code, capsys.readouterr().err

    return call


def test_a_download_without_content_length_is_not_trusted(server, tmp_path, fetch_cli):  # noqa: F811
    server.send_length = False
    server.cut_at = len(PAYLOAD) // 2  # the server sent half the file and closed the connection
    url = server.add("/a.bin", PAYLOAD)
    code, err = fetch_cli([Source("a.bin", (url,), "test")])
    assert code == 2
    assert_one_line(err, "a.bin", "no Content-Length", "cannot be verified", "a.bin.unverified", "not trusted")
    record = tmp_path / "downloads" / "fetch_record.json"
    assert not record.exists() or "toy/a.bin" not in json.loads(record.read_text())
    assert not (tmp_path / "downloads" / "toy" / "a.bin").exists()
    server.send_length, server.cut_at = True, None  # a correct server later: accepted and recorded
    assert fetch_cli([Source("a.bin", (url,), "test")])[0] == 0
    assert json.loads(record.read_text())["toy/a.bin"]["sha256"] == sha(PAYLOAD)


def test_a_short_read_is_not_trusted(server, tmp_path, fetch_cli):  # noqa: F811
    server.cut_at = 1000  # Content-Length says 100 KB, 1000 bytes arrive
    url = server.add("/a.bin", PAYLOAD)
    code, err = fetch_cli([Source("a.bin", (url,), "test")])
    assert code == 2
    assert_one_line(err, "a.bin")
    record = tmp_path / "downloads" / "fetch_record.json"
    assert not record.exists() or "toy/a.bin" not in json.loads(record.read_text())
    assert not (tmp_path / "downloads" / "toy" / "a.bin").exists()


def _placed(tmp_path, data: bytes):
    path = tmp_path / "manual" / "toy" / "a.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_retrust_replaces_the_first_use_digest_of_a_corrected_hand_placed_file(tmp_path, fetch_cli):
    sources = [Source("a.bin", (), "by hand")]
    placed = _placed(tmp_path, b"truncated copy")
    assert fetch_cli(sources)[0] == 0  # trusted on first use: the wrong file
    placed.write_bytes(b"the corrected copy")
    before = snapshot(tmp_path)
    code, err = fetch_cli(sources)
    assert code == 2  # without --retrust the change is refused
    assert_one_line(err, str(placed), "sha256", sha(b"truncated copy"), sha(b"the corrected copy"))
    assert snapshot(tmp_path) == before
    code, _ = fetch_cli(sources, "--retrust", placed)
    assert code == 0
    record = json.loads((tmp_path / "downloads" / "fetch_record.json").read_text())
    assert record["toy/a.bin"]["sha256"] == sha(b"the corrected copy")
    assert (tmp_path / "downloads" / "toy" / "a.bin").read_bytes() == b"the corrected copy"
    assert fetch_cli(sources)[0] == 0  # and it holds from then on


def test_retrust_refuses_a_pinned_file_and_an_unknown_name(tmp_path, fetch_cli):
    sources = [Source("a.bin", (), "by hand")]
    _placed(tmp_path, b"data")
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"files": {"toy/a.bin": {"sha256": "0" * 64, "note": "pinned"}}}))
    before = snapshot(tmp_path)
    code, err = fetch_cli(sources, "--lock", lock, "--retrust", "toy/a.bin")
    assert code == 2
    assert_one_line(err, "--retrust toy/a.bin", "toy/a.bin", "pinned in the lock")
    code, err = fetch_cli(sources, "--retrust", "toy/nothing.bin")
    assert code == 2
    assert_one_line(err, "--retrust toy/nothing.bin", "toy/a.bin", "no such source")
    assert snapshot(tmp_path) == before


def test_a_damaged_fetch_record_is_one_line(tmp_path, fetch_cli):
    _placed(tmp_path, b"data")
    record = tmp_path / "downloads" / "fetch_record.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"toy/a.bin": {"sha256": ')
    before = snapshot(tmp_path)
    code, err = fetch_cli([Source("a.bin", (), "by hand")])
    assert code == 2
    assert_one_line(err, str(record), "invalid JSON", "delete the file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content,fragment", [("{oops", "invalid JSON"), ('{"files": []}', "key 'files'"),
                                              ('{"files": {"toy/a.bin": {"sha256": "abc"}}}', "64 lower-case hex")])
def test_a_damaged_lock_is_one_line(tmp_path, fetch_cli, content, fragment):
    _placed(tmp_path, b"data")
    lock = tmp_path / "lock.json"
    lock.write_text(content)
    before = snapshot(tmp_path)
    code, err = fetch_cli([Source("a.bin", (), "by hand")], "--lock", lock)
    assert code == 2
    assert_one_line(err, str(lock), fragment)
    assert snapshot(tmp_path) == before


def test_the_readme_lists_the_trust_of_every_lock_entry():
    """data/README.md names every lock key with its trust (pinned or trust-on-first-use)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "data" / "README.md").read_text()
    lock = json.loads(default_lock_path().read_text())["files"]
    for key, entry in lock.items():
        trust = "pinned" if entry["sha256"] else "trust on first use"
        assert any(f"`{key}`" in line and trust in line for line in readme.splitlines()), key


def test_a_full_disk_while_downloading_is_one_line(tmp_path):
    import errno

    from bpmult.data import DiskFullError
    from bpmult.data.fetch import fetch_sources

    def downloader(urls, target, expected, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(target) + ".part")

    with pytest.raises(DiskFullError) as caught:
        fetch_sources("toy", [Source("a.bin", ("http://127.0.0.1:9/a.bin",), "t")], out=tmp_path / "d",
                      manual=tmp_path / "m", lock={}, progress=False, downloader=downloader)
    assert str(caught.value).startswith(str(tmp_path / "d" / "toy" / "a.bin.part") + ": no space left")
    assert "\n" not in str(caught.value) and not (tmp_path / "d" / "fetch_record.json").exists()
