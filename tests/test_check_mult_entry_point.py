"""``bpmult check-mult`` through the real entry point, with every area's commands registered."""

import subprocess
import sys
from pathlib import Path

from bpmult import cli

REFERENCE = Path(__file__).parent / "data" / "mult_aligned.npz"


def test_check_mult_through_the_bpmult_entry_point(capsys):
    assert cli.main(["check-mult", str(REFERENCE)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_check_mult_as_a_process_exits_non_zero_on_failure():
    bad = subprocess.run(
        [sys.executable, "-m", "bpmult.cli", "check-mult", str(REFERENCE), "--atol", "1e-12"],
        capture_output=True, text=True,
    )
    assert bad.returncode == 1 and "FAIL" in bad.stdout
