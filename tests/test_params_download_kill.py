"""A real SIGKILL between every two steps of a chip parameter download: a child process runs the download
and kills itself right after one message's answer or one journal write; the journal it leaves holds exactly
the old set or exactly the new one, and the next download resumes to the new one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.engine import effects as fx, params
from agent.engine.port import Ask
from tests.agentproc import ROOT
from tests.enginekit import World
from tests.test_params_download import NEW_KEY, OLD_KEY, in_force, new_digest, request, world

CHILD = """
import os, signal, sys
from pathlib import Path
from agent.engine import params
from tests.test_params_download import request, world
w = world(Path(sys.argv[1]))
print(w.old, flush=True)
plan, result, n, kill_after = params.download(w.profile, request()), None, 0, int(sys.argv[2])
while True:
    try:
        effect = plan.send(result)
    except StopIteration:
        break
    result = w.perform(effect)
    n += 1
    if n == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_points(tmp_path) -> list[int]:
    """The effect numbers after which a step of the download is done: an answer came, or a journal write."""
    w = world(tmp_path / "count")
    plan, result, n, points = params.download(w.profile, request()), None, 0, []
    while True:
        try:
            effect = plan.send(result)
        except StopIteration:
            return points
        result = w.perform(effect)
        n += 1
        if isinstance(effect, fx.Exchange) or (isinstance(effect, Ask) and effect.method.startswith("params_")):
            points.append(n)


def republished(w: World) -> None:
    """The host as the child left it (its published sets live in memory): the same versions and entries."""
    w.host.params.rotate(OLD_KEY)
    w.host.params.publish(floor_limit=50000)
    w.host.params.rotate(NEW_KEY)
    w.host.params.revoke("A000000333/08")
    w.host.params.publish(floor_limit=20000, tac_denial="0010000000", target_percent=10, max_target_percent=30,
                          threshold=5000)


def test_a_sigkill_between_any_two_steps_leaves_the_old_or_the_new_set(tmp_path):
    points = kill_points(tmp_path)
    assert len(points) >= 15
    for point in points:
        directory = tmp_path / f"kill{point}"
        directory.mkdir()
        child = subprocess.run([sys.executable, "-c", CHILD, str(directory), str(point)], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert child.returncode == -9, child.stderr[-2000:]
        old = child.stdout.split()[0]
        w = World(directory)
        republished(w)
        new = new_digest(w)
        assert in_force(w) in (old, new), point
        w.run(params.download(w.profile, request()))
        assert in_force(w) == new, point
        assert w.journal.verify().ok
        w.close()


def test_the_set_in_force_survives_a_restart_unchanged(tmp_path):
    w = world(tmp_path)
    digest = in_force(w)
    w.close()
    again = World(tmp_path)
    assert in_force(again) == digest and again.journal.params_download_open() is None
    again.close()
