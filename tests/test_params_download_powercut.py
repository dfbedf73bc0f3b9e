"""A power cut between every two steps of a chip parameter download, on the FUSE disk that drops every write
not fsynced (tests/powercutkit.py): the terminal's journal lives on it, the power fails just before its
n-th fsync of the download, for every n; after the power is back the set in force is exactly the old one or
exactly the new one, the hash chain verifies, and the next download finishes the new one."""

from __future__ import annotations

import os

from agent.engine import params
from tests.enginekit import World
from tests.powercutkit import disk  # noqa: F401 — the fixture
from tests.test_params_download import in_force, new_digest, request, world
from tests.test_params_download_kill import republished


def fsyncs(disk) -> int:
    return disk.stats()["calls"].get("fsync", 0)


def installed(disk, name: str):
    """The terminal's data directory, made durable as an installation leaves it (its entry fsynced)."""
    place = disk.mountpoint / name
    place.mkdir()
    fd = os.open(disk.mountpoint, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return place


def test_a_power_cut_before_every_fsync_of_a_download_leaves_the_old_or_the_new_set(disk):
    place = installed(disk, "count")
    w = world(place)
    before = fsyncs(disk)
    w.run(params.download(w.profile, request()))
    total = fsyncs(disk) - before
    w.close()
    assert total >= 4, total  # staging, each entry, the install: each its own commit
    outcomes = {"old": 0, "new": 0}
    for nth in range(1, total + 1):
        place = installed(disk, f"cut{nth}")
        w = world(place)
        old, new = w.old, new_digest(w)
        cuts = disk.cut_at("fsync", nth, tear=nth % 3)
        try:
            w.run(params.download(w.profile, request()))
        except Exception:  # noqa: BLE001 — the storage error of a disk without power, whatever its words
            pass
        assert disk.wait_cut(cuts, timeout=0), f"the cut before fsync {nth} never came"
        try:
            w.close()
        except Exception:  # noqa: BLE001 — closing a journal on a dead disk may fail too
            pass
        assert disk.power_cut() is True
        w = World(place)
        try:
            republished(w)
            found = in_force(w)
            assert found in (old, new), (nth, found)
            outcomes["old" if found == old else "new"] += 1
            assert w.journal.verify().ok, nth
            w.run(params.download(w.profile, request()))
            assert in_force(w) == new, nth
            assert w.journal.verify().ok, nth
        finally:
            w.close()
    assert outcomes["old"] >= 1 and outcomes["new"] >= 1, outcomes  # the cuts land on both sides of the install
