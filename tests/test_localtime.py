"""Local time has one home (`agent/localtime.py`): every instant a person reads is formatted there, and no
other module of `agent/` turns an epoch into local time itself (a scan that fails on a planted one)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from hypothesis import given, strategies as st

from agent.localtime import MINUTES, SECONDS, local_time, stamp

ROOT = Path(__file__).resolve().parent.parent
#: an epoch turned into local time: time.localtime(...), datetime.fromtimestamp(...)
LOCAL = re.compile(r"\blocaltime\(|\bfromtimestamp\(")


@given(st.integers(0, 4_102_444_800), st.integers(0, 999_999))
def test_local_time_is_the_wall_clock_of_the_epoch(seconds, micros):
    epoch = seconds + micros / 1e6  # the journal's times: microseconds at most
    wall = dt.datetime.fromtimestamp(epoch)
    assert local_time(epoch) == wall.strftime(SECONDS)
    assert local_time(epoch, MINUTES) == wall.strftime(MINUTES)
    assert stamp(epoch) == local_time(epoch) and stamp(None) == "-"


def offenders(root: Path) -> list[str]:
    return [f"{path.relative_to(root)}:{n}" for path in sorted((root / "agent").rglob("*.py"))
            if path.name != "localtime.py" or path.parent != root / "agent"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if LOCAL.search(line.split("#", 1)[0])]


def test_no_other_module_formats_local_time_itself(tmp_path):
    assert offenders(ROOT) == []
    planted = tmp_path / "agent"
    planted.mkdir()
    (planted / "localtime.py").write_text("import time\ntime.localtime(0)\n")
    (planted / "receipt.py").write_text("import datetime\ndatetime.datetime.fromtimestamp(0).strftime('%H')\n")
    assert offenders(tmp_path) == ["agent/receipt.py:2"]
