"""The downloader and the fetch logic against a local HTTP server (127.0.0.1, in a thread); the
network is never used. Port 9 (discard) on 127.0.0.1 stands for an unreachable host."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bpmult import cli
from bpmult.data import ChecksumError, FetchError, MissingFileError, registry
from bpmult.data.fetch import Source, default_lock_path, download, fetch_sources, read_lock

UNREACHABLE = "http://127.0.0.1:9"
PAYLOAD = bytes(range(256)) * 400  # 100 KB


class Server:
    """Files by path; honours Range unless told not to; logs every request."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.log: list[tuple[str, str | None]] = []
        self.ignore_range = False
        self.send_length = True   # False: no Content-Length header (the body ends when the connection closes)
        self.cut_at: int | None = None  # send only this many bytes of the body, then close
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.log.append((self.path, self.headers.get("Range")))
                if self.path not in server.files:
                    self.send_error(404, "Not Found")
                    return
                body, content_type = server.files[self.path]
                start = 0
                wanted = self.headers.get("Range")
                if wanted and not server.ignore_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", content_type)
                if server.send_length:
                    self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:server.cut_at])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        self.files[path] = (body, content_type)
        return self.url + path

    def requests_for(self, path: str) -> list:
        return [entry for entry in self.log if entry[0] == path]


@pytest.fixture
def server():
    instance = Server()
    yield instance
    instance.httpd.shutdown()
    instance.httpd.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_checks_the_digest_and_leaves_no_partial_file(server, tmp_path):
    url = server.add("/f.bin", PAYLOAD)
    target = tmp_path / "raw" / "f.bin"
    assert download([url], target, sha(PAYLOAD), progress=False) == sha(PAYLOAD)
    assert target.read_bytes() == PAYLOAD
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_resume_asks_only_for_the_missing_bytes(server, tmp_path):
    url = server.add("/f.bin", PAYLOAD)
    target = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:30000])
    download([url], target, sha(PAYLOAD), progress=False)
    assert server.requests_for("/f.bin") == [("/f.bin", "bytes=30000-")]
    assert target.read_bytes() == PAYLOAD


def test_resume_restarts_when_the_server_ignores_range(server, tmp_path):
    server.ignore_range = True
    url = server.add("/f.bin", PAYLOAD)
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:30000])
    download([url], tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_a_stale_partial_file_is_fetched_again_from_scratch(server, tmp_path):
    url = server.add("/f.bin", PAYLOAD)
    (tmp_path / "f.bin.part").write_bytes(b"garbage" * 100)  # not a prefix of the file
    download([url], tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert server.requests_for("/f.bin") == [("/f.bin", "bytes=700-"), ("/f.bin", None)]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_mirrors_are_tried_in_order(server, tmp_path):
    good = server.add("/good.bin", PAYLOAD)
    html = server.add("/login", b"<html>sign in</html>", "text/html; charset=utf-8")
    urls = [server.url + "/missing.bin", f"{UNREACHABLE}/f.bin", html, good]
    download(urls, tmp_path / "f.bin", sha(PAYLOAD), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert [p for p, _ in server.log] == ["/missing.bin", "/login", "/good.bin"]


def test_checksum_mismatch_is_an_error_and_deletes_the_download(server, tmp_path):
    url = server.add("/f.bin", PAYLOAD)
    with pytest.raises(ChecksumError) as caught:
        download([url], tmp_path / "f.bin", "0" * 64, progress=False)
    message = str(caught.value)
    assert "f.bin" in message and "0" * 64 in message and sha(PAYLOAD) in message
    assert list(tmp_path.iterdir()) == []


def test_offline_says_the_host_cannot_be_reached_and_where_to_place_the_file(tmp_path):
    with pytest.raises(FetchError) as caught:
        download([f"{UNREACHABLE}/iemocap_data.pkl"], tmp_path / "iemocap_data.pkl", None, progress=False,
                 manual_hint="place it at data/manual/iemocap/iemocap_data.pkl")
    message = str(caught.value)
    assert "cannot reach the host of iemocap_data.pkl" in message and "127.0.0.1:9" in message
    assert "offline" in message and "data/manual/iemocap/iemocap_data.pkl" in message


def test_fetch_command_offline_prints_a_plain_message(tmp_path, monkeypatch, capsys):
    sources = {"iemocap": (Source("iemocap_data.pkl", (f"{UNREACHABLE}/iemocap_data.pkl",), "test"),)}
    monkeypatch.setitem(registry.FETCH_TARGETS, "iemocap", sources)
    code = cli.main(["fetch", "iemocap", "--out", str(tmp_path / "raw"), "--manual", str(tmp_path / "manual"),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "cannot reach the host" in err and str(tmp_path / "manual" / "iemocap" / "iemocap_data.pkl") in err


def test_first_digest_is_recorded_then_enforced(server, tmp_path):
    url = server.add("/a.pkl", PAYLOAD)
    sources = [Source("a.pkl", (url,), "test")]
    kwargs = dict(out=tmp_path / "raw", manual=tmp_path / "manual", lock={}, progress=False)
    report = fetch_sources("ds", sources, **kwargs)
    assert "no published digest" in report.notices[0] and sha(PAYLOAD) in report.notices[0]
    record = json.loads((tmp_path / "raw" / "fetch_record.json").read_text())
    assert record["ds/a.pkl"]["sha256"] == sha(PAYLOAD) and record["ds/a.pkl"]["origin"] == "downloaded"
    report = fetch_sources("ds", sources, **kwargs)  # present and unchanged: no request, no notice
    assert report.lines[0].startswith("ok") and not report.notices and len(server.log) == 1
    (tmp_path / "raw" / "ds" / "a.pkl").write_bytes(b"tampered")
    server.files["/a.pkl"] = (b"another version", "application/octet-stream")
    with pytest.raises(ChecksumError, match="a.pkl"):  # re-fetched, but upstream changed: refused
        fetch_sources("ds", sources, **kwargs)


def test_lock_digest_is_checked(server, tmp_path):
    url = server.add("/a.pkl", PAYLOAD)
    kwargs = dict(out=tmp_path / "raw", manual=tmp_path / "manual", progress=False)
    with pytest.raises(ChecksumError):
        fetch_sources("ds", [Source("a.pkl", (url,), "test")], lock={"ds/a.pkl": "1" * 64}, **kwargs)
    report = fetch_sources("ds", [Source("a.pkl", (url,), "test")], lock={"ds/a.pkl": sha(PAYLOAD)}, **kwargs)
    assert report.lines == ["fetched  ds/a.pkl"] and not report.notices


def test_hand_placed_files_and_folders_are_verified_and_linked(tmp_path):
    manual = tmp_path / "manual" / "ds"
    (manual / "features").mkdir(parents=True)
    (manual / "features" / "1.p").write_bytes(b"one")
    (manual / "meta.pkl").write_bytes(b"meta")
    sources = [Source("meta.pkl", (), "by hand"), Source("features", (), "by hand", kind="dir"),
               Source("extra", (), "by hand", optional=True)]
    kwargs = dict(out=tmp_path / "raw", manual=tmp_path / "manual", progress=False)
    report = fetch_sources("ds", sources, lock={}, **kwargs)
    raw = tmp_path / "raw" / "ds"
    assert (raw / "meta.pkl").read_bytes() == b"meta" and (raw / "features" / "1.p").read_bytes() == b"one"
    assert (raw / "meta.pkl").is_symlink() and any(line.startswith("absent   ds/extra") for line in report.lines)
    (manual / "features" / "1.p").write_bytes(b"changed")
    with pytest.raises(ChecksumError, match="features"):
        fetch_sources("ds", sources, lock={}, **kwargs)
    with pytest.raises(MissingFileError, match="manual/ds/other.pkl"):
        fetch_sources("ds", [Source("other.pkl", (), "somewhere")], lock={}, **kwargs)


def test_archives_are_unpacked_once(server, tmp_path):
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        for name, data in (("mmimdb/split.json", b"{}"), ("mmimdb/dataset/0000001.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    zip_bytes = io.BytesIO()
    with zipfile.ZipFile(zip_bytes, "w") as zf:
        zf.writestr("glove.6B.300d.txt", "the 0.1\n")
        zf.writestr("glove.6B.50d.txt", "the 0.2\n")
    sources = [Source("mmimdb.tar.gz", (server.add("/m.tar.gz", tar_bytes.getvalue()),), "t", extract="tar"),
               Source("glove.6B.zip", (server.add("/g.zip", zip_bytes.getvalue()),), "t", extract=("glove.6B.300d.txt",))]
    kwargs = dict(out=tmp_path / "raw", manual=tmp_path / "manual", lock={}, progress=False)
    fetch_sources("mmimdb", sources, **kwargs)
    raw = tmp_path / "raw" / "mmimdb"
    assert (raw / "mmimdb" / "dataset" / "0000001.json").is_file() and (raw / "glove.6B.300d.txt").is_file()
    assert not (raw / "glove.6B.50d.txt").exists()
    report = fetch_sources("mmimdb", sources, **kwargs)
    assert sum("already unpacked" in line for line in report.lines) == 2


def test_the_lock_lists_exactly_the_sources_of_every_dataset():
    keys = {f"{raw_dir}/{source.path}" for target in registry.FETCH_TARGETS.values()
            for raw_dir, sources in target.items() for source in sources}
    lock = read_lock()
    assert set(lock) == keys
    raw = json.loads(default_lock_path().read_text())["files"]
    assert all(entry["sha256"] is None or len(entry["sha256"]) == 64 for entry in raw.values())
    assert all(entry["note"] for entry in raw.values())
