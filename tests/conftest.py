"""Shared fixtures: real helper processes (see tests/harness.py) and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests import harness

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if harness.IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "default"))


#: files that drive the one card reader (pcscd + vpcd slots) or measure CPU shares: `make test` runs them
#: after the parallel run, one after another, with nothing else beside them (marker `serial`)
SERIAL_FILES = {"test_card_pcsc.py", "test_console_cardtest.py", "test_daemon_chip.py", "test_daemon_emv_terminal.py",
                "test_demo.py", "test_emv_offline.py", "test_foundation_realstack.py", "test_bench_fleet.py"}


def pytest_collection_modifyitems(config, items):
    """Marks the serial files' tests `serial`; under `pytest -n N --dist loadgroup` every other file is a
    group of its own, so its module fixtures and its order stay as they are."""
    for item in items:
        if item.path.name in SERIAL_FILES or "pcscd" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.serial)
        item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(config.rootpath))))


@pytest.fixture
def world(tmp_path):
    """The sans-IO engine's world (tests/enginekit.py): a real journal file, the real codec and the
    simulator's acquirer in process."""
    from tests.enginekit import World
    w = World(tmp_path)
    yield w
    w.close()


@pytest.fixture(scope="session")
def pcscd():
    """One pcscd for the whole run (only one can run per machine); stopped only if we started it."""
    running = harness.start_pcscd()
    yield running
    if running.proc is not None:
        harness.stop_process(running.proc)


@pytest.fixture
def pty_pair(tmp_path):
    """A real pseudo-terminal pair made by socat."""
    pair = harness.start_pty_pair(tmp_path)
    yield pair
    harness.stop_process(pair.proc)


@pytest.fixture
def sim_host(tmp_path):
    """The acquirer simulator (`posim host`) as a real process on ephemeral ports, ledger in tmp_path."""
    from tests.simhost import start_host

    host = start_host(tmp_path)
    yield host
    host.stop()
