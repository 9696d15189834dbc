"""End to end: `dvc repro` on the smoke profile in a fresh copy of the repository.

One session-scoped run feeds every test here: the pipeline completes, a second `dvc repro` runs
nothing, the DVC views work, and headless Chromium renders the report with every image and table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    return env


def _run(args: list[str], cwd: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory) -> Path:
    """A fresh copy of the working tree with `profile: smoke`, after one `dvc repro`."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    dest = tmp_path_factory.mktemp("smoke") / "repo"
    for rel in files:
        src = REPO / rel
        if not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    params = dest / "params.yaml"
    text, n = re.subn(r"^profile: \w+", "profile: smoke", params.read_text(), count=1, flags=re.M)
    assert n == 1, "params.yaml must start the profile switch with `profile: <name>`"
    params.write_text(text)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "smoke"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    result = _run([str(BIN / "dvc"), "repro"], dest)
    if result.returncode != 0:
        pytest.fail(f"dvc repro failed (rc {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    # the repro's dvc.lock and metrics in git: the tests that edit files restore this state
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "repro"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def test_repro_writes_every_page(smoke_repo):
    reports = smoke_repo / "reports"
    assert (reports / "index.html").is_file()
    assert (reports / "tables.html").is_file() and (reports / "figures.html").is_file()
    train_pages = sorted(p.stem for p in (reports / "train").glob("*.html"))
    assert len(train_pages) == 26, train_pages
    tables = (reports / "tables.html").read_text()
    for title in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Table 6"):
        assert title in tables
    assert "SYNTHETIC" in (reports / "index.html").read_text()
    figures = sorted(p.name for p in (reports / "figures").glob("*.png"))
    assert len(figures) >= 12, figures


def test_second_repro_runs_nothing(smoke_repo):
    result = _run([str(BIN / "dvc"), "repro"], smoke_repo)
    assert result.returncode == 0, result.stderr
    assert "Running stage" not in result.stdout, result.stdout
    # the pipeline only: data.dvc (hand-placed files) has no cache in a fresh copy without a remote
    status = _run([str(BIN / "dvc"), "status", "dvc.yaml"], smoke_repo)
    assert "up to date" in status.stdout, status.stdout


@pytest.mark.parametrize("view", [["metrics", "show"], ["plots", "show"], ["exp", "show", "--no-pager"]])
def test_dvc_views_work(smoke_repo, view):
    result = _run([str(BIN / "dvc"), *view], smoke_repo)
    assert result.returncode == 0, result.stderr
    if view[0] == "metrics":
        assert "metrics/tables.json" in result.stdout and "metrics/runs/mosei-bpmult.json" in result.stdout


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_renders_in_headless_chromium(smoke_repo, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine: install Debian's `chromium` package (.ci/run does) "
                    "to check that the report's images load and tables render")
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files",
            "--virtual-time-budget=10000"]
    index = (smoke_repo / "reports" / "index.html").as_uri()
    dom = subprocess.run([*args, "--dump-dom", index], capture_output=True, text=True, timeout=120).stdout
    check = re.search(r'<p id="render-check"([^>]*)>([^<]*)</p>', dom)
    assert check, "the report's render check did not run in the browser"
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', check.group(1)))
    assert int(attrs["images"]) >= 12 and attrs["broken-images"] == "", attrs
    assert int(attrs["tables"]) >= 2 and attrs["empty-tables"] == "0", attrs
    shot = tmp_path / "index.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1280,2000", index],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000


# ----------------------------------------------------------------------------- DVC's view is true


def _status(repo: Path) -> str:
    result = _run([str(BIN / "dvc"), "status", "dvc.yaml"], repo)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _changed_stages(status: str) -> set[str]:
    return {line[:-1].strip() for line in status.splitlines() if line.endswith(":") and not line.startswith("\t")
            and not line.startswith(" ")}


@pytest.fixture
def restore(smoke_repo):
    """Put back every tracked file a test edits."""
    yield smoke_repo
    subprocess.run(["git", "checkout", "--", "."], cwd=smoke_repo, check=True, capture_output=True)


def _edit_params(repo: Path, dotted: str, value) -> None:
    import yaml

    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    node = params
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_editing_an_inactive_profile_leaves_every_stage_up_to_date(restore):
    _edit_params(restore, "paper.moviescope.train.lr", 0.123)
    _edit_params(restore, "embedded.mosei.model.d_model", 24)
    _edit_params(restore, "embedded.data.synth_size.mosei", 99)
    assert "up to date" in _status(restore)


def test_editing_the_active_profile_reruns_exactly_that_dataset(restore):
    _edit_params(restore, "smoke.mosei.train.lr", 0.004)
    changed = _changed_stages(_status(restore))
    assert changed == {"train@mosei-mult", "train@mosei-bpmult", "train@mosei-bpmult_no_parallel"}, changed


def test_switching_profile_invalidates_every_data_and_train_stage(restore):
    text = (restore / "params.yaml").read_text()
    (restore / "params.yaml").write_text(text.replace("profile: smoke", "profile: embedded", 1))
    changed = _changed_stages(_status(restore))
    assert {f"raw@{s}" for s in ("moviescope", "mmimdb", "iemocap", "mosei")} <= changed, changed
    assert len([s for s in changed if s.startswith("train@")]) == 26, changed


def test_a_training_code_change_reruns_training_and_not_the_data(restore):
    with open(restore / "bpmult" / "train" / "config.py", "a") as handle:
        handle.write("\n# an edit\n")
    changed = _changed_stages(_status(restore))
    assert len([s for s in changed if s.startswith("train@")]) == 26, changed
    assert not [s for s in changed if s.startswith(("raw@", "prepare@"))], changed


def test_placing_a_hand_placed_file_marks_that_raw_stage_changed_and_no_other(restore):
    placed = restore / "data" / "manual" / "mosei" / "extra.txt"
    placed.write_text("placed by hand\n")
    try:
        changed = _changed_stages(_status(restore))
        assert {s for s in changed if s.startswith("raw@")} == {"raw@mosei"}, changed
    finally:
        placed.unlink()


def test_a_fresh_clone_pulls_the_results_from_a_remote_without_training(smoke_repo, tmp_path):
    remote = tmp_path / "remote"
    for cmd in ([str(BIN / "dvc"), "remote", "add", "-f", "-d", "shared", str(remote)],
                [str(BIN / "dvc"), "push"]):
        result = _run(cmd, smoke_repo)
        assert result.returncode == 0, result.stderr[-2000:]
    subprocess.run(["git", "add", "-A"], cwd=smoke_repo, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results"], cwd=smoke_repo,
                   check=True, capture_output=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(smoke_repo), str(clone)], check=True, capture_output=True)
    pulled = _run([str(BIN / "dvc"), "pull"], clone)
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    assert "up to date" in _status(clone)
    assert (clone / "reports" / "index.html").read_bytes() == (smoke_repo / "reports" / "index.html").read_bytes()
    repro = _run([str(BIN / "dvc"), "repro"], clone)
    assert repro.returncode == 0 and "Running stage" not in repro.stdout, repro.stdout[-2000:]


# ----------------------------------------------------------------------------- many runs: DVC's queue


def _queue_states(repo: Path) -> dict[str, str]:
    out = _run([str(BIN / "dvc"), "queue", "status"], repo).stdout
    states = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and parts[-1] in ("Queued", "Running", "Success", "Failed"):
            states[parts[1]] = parts[-1]
    return states


def test_two_queue_workers_run_two_queued_experiments(restore):
    """`dvc exp run --queue` twice, `dvc queue start -j 2`: two workers, both experiments succeed, each with its lr."""
    import json
    import time

    lrs = {0.004: None, 0.005: None}
    for lr in lrs:
        queued = _run([str(BIN / "dvc"), "exp", "run", "--queue", "-S", f"smoke.mosei.train.lr={lr}"], restore)
        assert queued.returncode == 0, queued.stderr[-2000:]
    # the workers outlive `dvc queue start` and inherit its output: a file, not a pipe, so that
    # waiting for the command does not wait for the workers
    log = restore / ".dvc" / "tmp" / "queue-start.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        started = subprocess.run([str(BIN / "dvc"), "queue", "start", "-j", "2"], cwd=restore, env=_env(),
                                 stdout=out, stderr=subprocess.STDOUT, timeout=300)
    assert started.returncode == 0, log.read_text()[-2000:]
    assert "Started '2' new experiments task queue workers" in log.read_text(), log.read_text()
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        states = _queue_states(restore)
        if len(states) == 2 and all(s in ("Success", "Failed") for s in states.values()):
            break
        time.sleep(3)
    _run([str(BIN / "dvc"), "queue", "stop"], restore)  # idle workers would linger past the test
    assert states and all(s == "Success" for s in states.values()), states
    shown = json.loads(_run([str(BIN / "dvc"), "exp", "show", "--json"], restore).stdout)
    results = {}
    for exp in shown[1]["experiments"] or []:
        data = exp["revs"][0]["data"]
        lr = data["params"]["params.yaml"]["data"]["smoke"]["mosei"]["train"]["lr"]
        results[lr] = data["metrics"]["metrics/runs/mosei-mult.json"]["data"]["test"]["loss"]["mean"]
    assert set(results) == set(lrs), results
    assert results[0.004] != results[0.005], results
    # the workspace is not the queue's: params.yaml and the committed metrics are untouched
    diff = subprocess.run(["git", "status", "--porcelain", "params.yaml", "metrics"], cwd=restore,
                          capture_output=True, text=True).stdout
    assert diff == "", diff
