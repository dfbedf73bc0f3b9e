"""Reconciliation evidence is what the daemon established itself: it reads a statement by name from its
statements directory, reconciles it against its own journal and journals a record of fixed fields; no
client's words become a `reconcile.*` event, and no event outgrows the bound of its kind.

Against the real daemon and simulator: the control socket raw, `posagent reconcile`, and the technician
console's command table over a real control client."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agent import registry
from agent.auth import hash_password
from agent.journal.events import DETAILS_BOUNDS, details_bound
from agent.journal.hashchain import canonical
from agent.journal.states import KINDS
from agent.operation import Arg
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_reconcile_cli import day_of_payments, statement

pytestmark = pytest.mark.realstack

TECH_PASSWORD = "field-tech-7"
TECH_HASH = hash_password(TECH_PASSWORD)
#: the fields of a `reconcile.run` event: each a number, a flag or a short text the reconciler produced
RUN_FIELDS = {"statement", "sha256_b64", "format", "encoding", "date", "lines", "owed", "credited", "difference",
              "unexplained", "balanced", "by_kind", "findings", "other_terminals", "items", "report_sha256_b64"}


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port, extra=f'[console]\npassword_hash = "{TECH_HASH}"\n')
    yield running
    running.stop()


def raw(agent, request: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(agent.socket))
        sock.sendall(request + b"\n")
        for line in sock.makefile("rb"):
            reply = json.loads(line)
            if "notify" not in reply:
                return reply
    raise AssertionError("no answer")


def request(agent, op: str, args: dict, password: str | None = None) -> dict:
    body = {"op": op, "args": args, **({"password": password} if password is not None else {})}
    return raw(agent, json.dumps(body).encode())


def events(agent, after: int = 0) -> list[dict]:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        return [{"id": r[0], "kind": r[1], "operator": r[2], "role": r[3], "stored": r[4]}
                for r in db.execute("SELECT id, kind, operator, role, details FROM events WHERE id > ? ORDER BY id",
                                    (after,))]


def journaled(agent, after: int, prefix: str = "reconcile.") -> list[dict]:
    """The events of one area appended after `after` (the daemon journals its own link work meanwhile)."""
    return [e for e in events(agent, after) if e["kind"].startswith(prefix)]


def last_event_id(agent) -> int:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]


def statements_dir(agent) -> Path:
    directory = agent.directory / "statements"
    directory.mkdir(mode=0o700, exist_ok=True)
    return directory


def one_line_refusal(reply: dict, code: str, *needles: str, most: int = 400) -> str:
    assert not reply["ok"] and reply["error"]["code"] == code, reply
    message = reply["error"]["message"]
    assert "\n" not in message and "Traceback" not in message and len(message) < most, message
    for needle in needles:
        assert needle in message, message
    return message


# ------------------------------------------------------------------------------------------- 1. no forged runs
def test_no_client_can_journal_reconciliation_details_of_its_own(agent):
    """`reconcile_record` took any details from any client and chained them as a `reconcile.run`: gone."""
    before, size = last_event_id(agent), (agent.directory / "journal.db").stat().st_size
    forged = {"statement": "forged.csv", "balanced": True, "pad": "A" * 62_000}
    for _ in range(20):
        reply = request(agent, "reconcile_record", {"kind": "reconcile.run", "details": forged})
        one_line_refusal(reply, "usage", "unknown operation 'reconcile_record'", most=2000)  # it lists the known
    # the daemon's own operation takes a name, never details
    one_line_refusal(request(agent, "reconcile", {"statement": "x.csv", "details": forged}), "usage",
                     "unknown argument 'details'")
    assert "reconcile_record" not in registry.OPERATIONS
    assert not any(arg.kind == "record" for row in registry.OPERATIONS.values() for arg in row.args.values())
    assert journaled(agent, before) == []
    assert (agent.directory / "journal.db").stat().st_size < size + 64 * 1024


def test_the_daemon_reconciles_a_statement_by_name_and_journals_only_what_it_found(agent, sim_host, tmp_path):
    day_of_payments(agent)
    summary = statement(sim_host, statements_dir(agent) / "day.csv")
    before = last_event_id(agent)
    reply = request(agent, "reconcile", {"statement": "day.csv"})  # the cashier, no password
    assert reply["ok"], reply
    answer = reply["result"]
    assert answer["report"]["balanced"] and answer["report"]["credited"] == summary["credit"]
    assert answer["statement"] == "day.csv" and answer["format"] == "posim" and len(answer["sha256"]) == 64
    [run] = journaled(agent, before)
    assert run["kind"] == "reconcile.run" and run["role"] == run["operator"] == "cashier"
    assert run["id"] == answer["journal_event"]["event_id"]
    details = json.loads(run["stored"])["details"]
    assert set(details) == RUN_FIELDS and details["balanced"] is True and details["statement"] == "day.csv"
    assert len(canonical(details).encode()) <= details_bound("reconcile.run")
    # the command line prints the daemon's report, as before
    done = agent.cli("reconcile", str(statements_dir(agent) / "day.csv"))
    assert done.returncode == 0 and "balanced to the cent" in done.stdout, done.stdout + done.stderr
    assert agent.cli("journal", "verify").returncode == 0


@pytest.mark.parametrize("name", ["../journal.db", "/etc/passwd", "..", ".hidden", "a/b.csv", "a..b", "", "x" * 101,
                                  "statements/../../journal.db"])
def test_a_statement_is_named_by_a_plain_file_name_only(agent, name):
    before = last_event_id(agent)
    one_line_refusal(request(agent, "reconcile", {"statement": name}), "usage", "reconcile: statement")
    assert journaled(agent, before) == []


def test_only_a_regular_file_of_the_statements_directory_is_read_never_through_a_link(agent, tmp_path):
    from agent.reconcile.statement import MAX_STATEMENT_BYTES

    directory = statements_dir(agent)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$SALTSALT$" + "h" * 80 + ":19000:0:99999:7:::\n")
    (directory / "linked.csv").symlink_to(secret)
    os.mkfifo(directory / "pipe.csv")
    with open(directory / "huge.csv", "wb") as f:  # sparse: no disk space used
        f.truncate(MAX_STATEMENT_BYTES + 1)
    before = last_event_id(agent)
    for name, needle in (("linked.csv", "a symbolic link"), ("pipe.csv", "a pipe"),
                         ("huge.csv", f"{MAX_STATEMENT_BYTES + 1} bytes")):
        message = one_line_refusal(request(agent, "reconcile", {"statement": name}), "statement_refused", needle)
        assert "SALTSALT" not in message
    found = journaled(agent, before)
    assert [e["kind"] for e in found] == ["reconcile.refused"] * 3
    assert all("SALTSALT" not in e["stored"] for e in found)
    # a name with nothing behind it was read from nowhere: refused, nothing journaled
    before = last_event_id(agent)
    one_line_refusal(request(agent, "reconcile", {"statement": "missing.csv"}), "usage", "no statement 'missing.csv'")
    assert journaled(agent, before) == []


def test_a_statement_directory_another_user_may_write_is_refused(agent, sim_host):
    directory = statements_dir(agent)
    (directory / "day.csv").write_text("anything\n")
    os.chmod(directory, 0o777)
    try:
        one_line_refusal(request(agent, "reconcile", {"statement": "day.csv"}), "usage", "may be written by other users")
    finally:
        os.chmod(directory, 0o700)


def test_posagent_reconcile_puts_a_private_copy_in_the_statements_directory(agent, sim_host, tmp_path):
    day_of_payments(agent)
    statement(sim_host, tmp_path / "bank day (1).csv")
    done = agent.cli("reconcile", str(tmp_path / "bank day (1).csv"), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    copy = tmp_path / "statements" / report["statement"]
    assert report["statement"] == "bank_day__1_.csv" and copy.read_bytes() == (tmp_path / "bank day (1).csv").read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "statements").stat().st_mode) == 0o700
    # a link planted where the copy goes is never written through
    target = tmp_path / "target.txt"
    target.write_text("untouched\n")
    copy.unlink()
    copy.symlink_to(target)
    refused = agent.cli("reconcile", str(tmp_path / "bank day (1).csv"))
    assert refused.returncode == 2 and "symbolic link" in refused.stderr and "Traceback" not in refused.stderr
    assert target.read_text() == "untouched\n"


# ------------------------------------------------------------------------------------------- size bounds
def test_every_event_kind_in_use_has_a_bound_and_a_larger_event_is_refused_in_one_line(agent):
    in_use = ["auth_failed", "auth_locked", "advice.failed", "signon", "settlement_started", "request_abandoned",
              "wallet.paying", "wallet.query", "wallet.final", "reconcile.run", "reconcile.refused",
              *(f"console.{kind}" for kind in ("login", "login_failed", "login_locked", "logout", "idle_logout",
                                               "config_set", "log_level", "reversal_handled", "keys_loaded"))]
    for kind in in_use:
        assert details_bound(kind) <= 16 * 1024, kind
    assert DETAILS_BOUNDS[-1][0].fullmatch("any.other_kind")
    # the technician's own audit trail is the one place a client's words are journaled: bounded
    before = last_event_id(agent)
    big = {f"k{i}": "码" * 200 for i in range(8)}
    reply = request(agent, "console_event", {"kind": "config_set", "details": big}, password=TECH_PASSWORD)
    one_line_refusal(reply, "JournalError", "console.config_set", f"{details_bound('console.config_set')} bytes")
    assert journaled(agent, before, "console.") == []
    reply = request(agent, "console_event", {"kind": "config_set", "details": {"key": "terminal.language"}},
                    password=TECH_PASSWORD)
    assert reply["ok"], reply


# ------------------------------------------------------------------------------------------- 3. the console
def test_the_console_reconciles_by_name_only_and_journals_the_technician(agent, sim_host, tmp_path):
    from agent.console.commands import CommandTable
    from agent.console.context import ConsoleContext, DaemonRefused
    from agent.control_client import ControlClient
    from agent.errors import PosagentError
    from agent.config import load as load_config

    day_of_payments(agent)
    statement(sim_host, statements_dir(agent) / "day.csv")
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SALTSALT$" + "h" * 80 + ":19000:0:99999:7:::\n")
    client = ControlClient(agent.socket, timeout=60, source="console")
    table = CommandTable(ConsoleContext(client=client, cfg=load_config(agent.config), password=TECH_PASSWORD))

    before = last_event_id(agent)
    for path in (str(secret), "../shadow", "/etc/shadow"):
        with pytest.raises(DaemonRefused) as refused:
            table.run(f"reconcile {path}")
        assert "SALTSALT" not in str(refused.value) and "root:" not in str(refused.value)
    assert journaled(agent, before) == []

    # a bad statement of the directory: refused with a short masked excerpt, never its content
    (statements_dir(agent) / "bad.csv").write_text("root:$6$SALTSALT$" + "h" * 80 + " 6226090000000048\n")
    with pytest.raises(DaemonRefused) as refused:
        table.run("reconcile bad.csv")
    message = str(refused.value)
    assert "line 1" in message and "h" * 60 not in message and "6226090000000048" not in message
    assert len(message) < 400 and "\n" not in message

    reply = table.run("reconcile day.csv")
    assert "balanced to the cent" in reply.text and "journaled as event #" in reply.text
    found = journaled(agent, before)
    assert [(e["kind"], e["role"]) for e in found] == [("reconcile.refused", "technician"),
                                                        ("reconcile.run", "technician")]
    assert "h" * 60 not in found[0]["stored"] and "6226090000000048" not in found[0]["stored"]
    with pytest.raises(PosagentError, match="usage: reconcile NAME"):
        table.run("reconcile")
    # the technician's run needs the technician's password
    anonymous = CommandTable(ConsoleContext(client=client, cfg=load_config(agent.config), password=None))
    with pytest.raises(DaemonRefused):
        anonymous.run("reconcile day.csv")


# ------------------------------------------------------------------------------------------- the property
MARKER = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=10, max_size=10).map(lambda s: "MK" + s)


def _value(arg: Arg, marker: str):
    if arg.kind in ("int", "amount", "trace"):
        return st.integers(arg.lo, min(arg.hi, 10 ** 6))
    if arg.kind == "bool":
        return st.booleans()
    if arg.kind == "level":
        return st.sampled_from(registry.LOG_LEVELS)
    if arg.kind == "txn_kind":
        return st.sampled_from(list(KINDS))
    if arg.kind == "pin":
        return st.just("1234")
    if arg.kind == "paycode":  # never a real code: a payment-code sale would wait for the customer
        return st.just(marker)
    if arg.kind != "text":  # an object, or any kind this table does not know
        return st.just({"note": marker, "key": marker * 10})
    texts = st.sampled_from([marker, marker + ".csv", f"{marker} {marker}"])
    if arg.pattern is None:
        return texts
    return st.one_of(texts, st.from_regex(arg.pattern, fullmatch=True))  # also what the pattern accepts


def _args(op: str, marker: str):
    row = registry.OPERATIONS[op]
    fields = {}
    for name, arg in row.args.items():
        if op == "console_event" and name == "kind":
            fields[name] = st.sampled_from(["config_set", "login_failed", "log_level", marker])
        else:
            fields[name] = _value(arg, marker)
    return st.fixed_dictionaries(fields)


def test_no_request_appends_an_event_the_daemon_did_not_establish_or_one_beyond_its_bound(agent, sim_host):
    """Every operation of the registry, with any arguments carrying a marker, any role and password: no new
    event holds the marker (but the technician's own audit details), and none outgrows its kind's bound."""
    day_of_payments(agent)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        for op in sorted(registry.OPERATIONS):
            marker = data.draw(MARKER, label="marker")
            args = data.draw(_args(op, marker), label=op)
            password = data.draw(st.sampled_from([None, SUPERVISOR_PASSWORD, TECH_PASSWORD, marker]), label="password")
            before = last_event_id(agent)
            request(agent, op, args, password)
            for event in events(agent, before):
                stored = json.loads(event["stored"])
                if "details" in stored:  # an operator event: its details within its kind's bound
                    assert len(canonical(stored["details"]).encode()) <= details_bound(event["kind"]), event
                if event["kind"].startswith("console.") and event["role"] == "technician":
                    continue  # the technician's own audit trail, bounded above
                assert marker not in event["stored"], (op, args, event)

    check()
    assert agent.cli("journal", "verify").returncode == 0
