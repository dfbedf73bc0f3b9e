"""The scheduled chip parameter check (`[emv] params_check_seconds`) through the real daemon and `posim host`:
the acquirer publishes a new set without any sign-on, and the daemon's own check downloads and installs it
between operations (trigger "schedule" in the journal); a check the acquirer cannot answer changes nothing
and the next one tries again; 0 turns the schedule off; a bad value is refused by `config check`."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.agentproc import ROOT, start_agent, write_config
from tests.test_params_download_e2e import posim


def wait_for(predicate, timeout: float = 20.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def params_status(agent) -> dict:
    return agent.call("status")["result"]["params"]


def host_fault(sim_host, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "fault", *args,
                             "--control", f"127.0.0.1:{sim_host.control_port}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_set_published_on_the_host_is_installed_by_the_schedule_without_a_sign_on(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, extra="params_check_seconds = 1\n")  # the config ends in its [emv] table
    try:
        assert agent.json("signon")["ok"]
        assert params_status(agent)["source"] == "files"
        host_fault(sim_host, "add", "garbage:mti=0820")  # the parameter service answers garbage
        posim(sim_host, "publish", "--floor-limit", "30000")
        time.sleep(2.5)  # two or more checks come and fail
        assert params_status(agent)["source"] == "files"
        sale = agent.json("sale", "12.00", "--card", "debit")
        assert sale["ok"], sale  # selling goes on beside the failing checks
        host_fault(sim_host, "clear")
        installed = wait_for(lambda: params_status(agent)["source"] == "download" and params_status(agent))
        assert installed and installed["version"] == "00000001/00000000", installed
        assert '"status": {"at"' in posim(sim_host, "show")  # the terminal reported the set it installed
    finally:
        agent.stop()
    from agent.journal import Journal
    with Journal.open(tmp_path / "journal.db", fingerprint_key=None, read_only=True) as journal:
        rows = journal.core.conn.execute("SELECT details FROM events WHERE kind LIKE 'params.%'").fetchall()
    assert any('"schedule"' in row[0] for row in rows), rows


def test_with_the_schedule_off_only_a_sign_on_or_the_technician_downloads(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, extra="params_check_seconds = 0\n")
    try:
        assert agent.json("signon")["ok"]
        posim(sim_host, "publish", "--floor-limit", "30000")
        time.sleep(2)
        assert params_status(agent)["source"] == "files"
        assert agent.json("params", "download")["ok"]
        assert params_status(agent)["source"] == "download"
    finally:
        agent.stop()


@pytest.mark.parametrize("value", ["-1", "0.5", "604801", "true", '"daily"'])
def test_a_bad_schedule_is_refused_by_config_check_naming_the_setting(tmp_path, value):
    config = write_config(tmp_path, 5800, extra=f"params_check_seconds = {value}\n")
    result = subprocess.run([sys.executable, "-m", "agent", "--config", str(config), "config", "check"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "params_check_seconds" in result.stderr and "\n" not in result.stderr.strip(), result.stderr
