"""`make demo`'s walk-through runs to the end, the bank agrees with the journal, the back office reconciles
two tills' day on a throw-away PostgreSQL, nothing is left running."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import demo as demo_module
from simulator import pgcluster
from simulator.stack import StackError

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
    office = out.split("=== Back office", 1)[1]
    if pgcluster.unavailable() is not None:
        assert "skipped: PostgreSQL is not installed" in office and "apt-get install postgresql" in office
        return
    # the day's net per terminal: 120.00 + 45.50 + 88.88; 88.88 + 230.00 + 19.90 with the 19.90 voided
    day = office.split("$ posoffice day", 1)[1].split("$ posoffice duplicates", 1)[0]
    assert re.search(r"^  10000001  3 / 254\.38  0 / 0\.00  0 / 0\.00 +254\.38$", day, re.M), day
    assert re.search(r"^  10000002  3 / 338\.78  0 / 0\.00  1 / 19\.90 +318\.88$", day, re.M), day
    # the same card and amount on both tills, the later one to refund (its batch is settled)
    duplicates = office.split("$ posoffice duplicates", 1)[1].split("$ posoffice reconcile", 1)[0]
    assert "1 suspected duplicate(s)" in duplicates, duplicates
    assert re.search(r"88\.88, card 622609\*+0048: terminal 10000001 trace \d{6} .*then terminal 10000002", duplicates)
    assert "fix: refund 88.88 against trace" in duplicates and "on terminal 10000002" in duplicates
    # the bank's statement leaves one sale out: the office names it, and it explains the whole difference
    reconcile = office.split("$ posoffice reconcile", 1)[1]
    finding = re.search(r"^ +1  in the journal, not credited +(1000000[12]) .* (-\d+\.\d\d)$", reconcile, re.M)
    assert finding, reconcile
    assert re.search(rf"^  difference +{re.escape(finding.group(2))}$", reconcile, re.M), reconcile
    assert re.search(r"^  unexplained remainder +0\.00$", reconcile, re.M), reconcile
    assert f"claim: the acquirer kept {finding.group(2)[1:]}" in reconcile
    # the office's web pages: an address and a manager's login, checked by logging in and reading Today
    assert re.search(r"the office's web pages: http://127\.0\.0\.1:\d+/   log in as manager / \S{10,}", office), office
    assert "Today lists 2 terminals and 1 alert(s)" in office
    # the cluster, the collector and the tills are gone
    cluster_dir = re.search(r"throw-away cluster \(initdb, pg_ctl\) in (\S+),", office).group(1)
    assert not Path(cluster_dir).exists()
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if _cmdline_has(p, cluster_dir)]


def _cmdline_has(path: Path, text: str) -> bool:
    try:
        return text.encode() in path.read_bytes()
    except OSError:
        return False


def test_without_postgresql_the_office_scene_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setattr(pgcluster, "unavailable", lambda: "PostgreSQL is not installed (Debian package postgresql)")
    demo = demo_module.Demo(chip=False)
    try:
        demo.office_scene()
    finally:
        demo.stop_all()
    out = capsys.readouterr().out
    assert "skipped: PostgreSQL is not installed" in out and "sudo apt-get install postgresql" in out


@pytest.mark.skipif(pgcluster.unavailable() is not None, reason="PostgreSQL is not installed")
def test_a_failing_office_scene_stops_the_cluster_and_says_why_in_one_line(monkeypatch, capsys):
    started = []
    real_start = pgcluster.start_cluster

    def start_cluster():
        started.append(real_start())
        return started[-1]

    def no_collector(dsn, port=0):
        raise StackError("the collector did not start: address in use")

    monkeypatch.setattr(pgcluster, "start_cluster", start_cluster)
    monkeypatch.setattr(pgcluster, "Collector", no_collector)
    demo = demo_module.Demo(chip=False)
    try:
        with pytest.raises(StackError, match="^the collector did not start: address in use$"):
            demo.office_scene()
    finally:
        demo.stop_all()
    assert started and not started[0].root.exists()
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if _cmdline_has(p, str(started[0].root))]
