"""The power-cut filesystem as a pytest fixture: mounted under the test's temp dir, always unmounted.

Without FUSE (no /dev/fuse, no fusermount3, no libfuse3) the test skips with the reason on a developer's
machine and fails under CI=true, like the other real stacks."""

from __future__ import annotations

import pytest

from simulator.powercut.mount import PowercutMount, unavailable
from tests import harness


@pytest.fixture
def disk(tmp_path):
    reason = unavailable()
    harness.require(reason is None, reason or "")
    mounted = PowercutMount.start(tmp_path / "powercut")
    try:
        yield mounted
    finally:
        mounted.stop()
