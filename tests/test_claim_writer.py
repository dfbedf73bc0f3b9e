"""`posagent reconcile FILE --claim DIR` writes private files the way the evidence export does: 0600 files in
0700 directories, no symbolic link followed (a planted one, a dangling one, a linked `evidence/` or DIR
itself), nothing replaced without `--force`, and a directory other users may write to refused.  Links are
planted in a real temporary directory; the CLI runs against a real daemon and host."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from agent.atomicfile import PrivateDirectory, PrivateFileError, write_private
from tests.agentproc import start_agent
from tests.test_reconcile_cli import day_of_payments, statement

DAY = dt.date.today().strftime("%Y%m%d")


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def refused(done, *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def test_claim_files_are_private_never_follow_a_link_and_are_replaced_only_when_forced(agent, sim_host, tmp_path):
    day_of_payments(agent)
    statement(sim_host, tmp_path / "clean.csv")
    sim_host.fault("statement_fee_above_rate:seed=1")
    statement(sim_host, tmp_path / "faulty.csv")
    faulty = str(tmp_path / "faulty.csv")

    claims = tmp_path / "new" / "claims"
    assert agent.cli("reconcile", faulty, "--claim", str(claims)).returncode == 1
    files = [p for p in claims.rglob("*") if p.is_file()]
    assert any(p.parent.name == "evidence" for p in files) and (claims / f"claim-{DAY}-en.txt").exists()
    assert all(mode(p) == 0o600 for p in files), {str(p): oct(mode(p)) for p in files}
    assert mode(claims) == mode(claims / "evidence") == mode(claims.parent) == 0o700
    assert not [p for p in claims.rglob(".*.tmp")]

    # a second run does not overwrite without --force, and writes nothing at all
    before = tree(claims)
    refused(agent.cli("reconcile", faulty, "--claim", str(claims)), "already exists; add --force to replace it")
    assert tree(claims) == before
    assert agent.cli("reconcile", faulty, "--claim", str(claims), "--force").returncode == 1
    assert all(mode(p) == 0o600 for p in claims.rglob("*") if p.is_file())

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.chmod(victim, 0o644)

    # a link planted where a letter goes: refused, with or without --force; the victim untouched
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o700)
    os.symlink(victim, planted / f"claim-{DAY}-en.txt")
    for extra in ((), ("--force",)):
        refused(agent.cli("reconcile", faulty, "--claim", str(planted), *extra), "symbolic link")
    assert victim.read_text() == "keep me" and mode(victim) == 0o644
    assert [p.name for p in planted.iterdir()] == [f"claim-{DAY}-en.txt"]  # nothing else was written

    # a dangling link: its target is not created
    dangling = tmp_path / "dangling"
    dangling.mkdir(mode=0o700)
    os.symlink(tmp_path / "created-through-the-link", dangling / f"claim-{DAY}.json")
    refused(agent.cli("reconcile", faulty, "--claim", str(dangling), "--force"), "symbolic link")
    assert not (tmp_path / "created-through-the-link").exists()

    # evidence/ a link to another directory: nothing is written there
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "linked-evidence"
    linked.mkdir(mode=0o700)
    os.symlink(elsewhere, linked / "evidence")
    refused(agent.cli("reconcile", faulty, "--claim", str(linked)), "evidence is a symbolic link")
    assert list(elsewhere.iterdir()) == []

    # the directory itself: a link to a directory, a dangling link, a directory others may write to
    os.symlink(elsewhere, tmp_path / "claims-link")
    refused(agent.cli("reconcile", faulty, "--claim", str(tmp_path / "claims-link")), "symbolic link")
    os.symlink(tmp_path / "not-there", tmp_path / "claims-dangling")
    refused(agent.cli("reconcile", faulty, "--claim", str(tmp_path / "claims-dangling")), "symbolic link")
    assert not (tmp_path / "not-there").exists() and list(elsewhere.iterdir()) == []
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    refused(agent.cli("reconcile", faulty, "--claim", str(shared)), "may be written by other users")
    assert list(shared.iterdir()) == []


def test_one_writer_for_claims_and_exports(tmp_path):
    """The evidence export (`journal export -o`) and the claim letters share `agent.atomicfile`'s writer."""
    from agent.journal import cli as journal_cli
    from agent.reconcile import cli as reconcile_cli

    assert reconcile_cli.PrivateDirectory is PrivateDirectory
    target = tmp_path / "bundle.json"
    journal_cli.write_private(target, b"{}", force=False)
    assert mode(target) == 0o600
    with pytest.raises(PrivateFileError, match="already exists"):
        write_private(target, b"{}", force=False)
    write_private(target, b"[]", force=True)
    assert target.read_bytes() == b"[]" and mode(target) == 0o600
    with pytest.raises(PrivateFileError, match="no directory"):
        write_private(tmp_path / "missing" / "x.json", b"{}", force=False)
