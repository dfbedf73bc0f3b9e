"""`make demo`'s walk-through runs to the end, the bank agrees with the journal, nothing is left running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except (OSError, ValueError):
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


@pytest.mark.realstack
def test_demo_walks_the_five_scenarios_and_the_bank_agrees(pcscd):
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "demo"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    for title in ("S1 —", "S2 —", "S3 —", "S4 —", "S5 —", "A chip sale"):
        assert title in out
    assert "skipped: pcscd" not in out
    assert "the bank and the journal agree to the cent" in out
    assert "journal ok" in out and "Traceback" not in out
    assert "6226090000000048" not in out and "6250946000000016" not in out  # only masked PANs shown
    assert _children_of(proc.pid) == []
