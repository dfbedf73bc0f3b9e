"""Shared fixtures: real helper processes (see tests/harness.py) and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests import harness

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if harness.IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "default"))


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
