"""The control socket as an attacker on the same machine would use it: wrong argument types, operations of
another role, thousands of idle connections, random requests — against the real daemon and simulator."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from agent.auth import hash_password
from agent import registry
from agent.daemon.control import MAX_CONNECTIONS
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent

pytestmark = pytest.mark.realstack

TECH_PASSWORD = "field-tech-7"


@pytest.fixture(scope="module")
def tech_hash():
    return hash_password(TECH_PASSWORD)


@pytest.fixture
def agent(tmp_path, sim_host, tech_hash):
    running = start_agent(tmp_path, sim_host.port, extra=f'[console]\npassword_hash = "{tech_hash}"\n')
    yield running
    running.stop()


def raw(agent, request: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(agent.socket))
        sock.sendall(request + b"\n")
        stream = sock.makefile("rb")
        for line in stream:
            reply = json.loads(line)
            if "notify" not in reply:
                return reply
    raise AssertionError("no answer")


def ledger_rows(agent) -> int:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM transactions").fetchone()[0]


@pytest.mark.parametrize("op, args, expected", [
    ("sale", {"amount": 10 ** 30}, "sale: amount must be from 1 to 999999999999"),
    ("sale", {"amount": "12.00"}, "sale: amount must be a whole number"),
    ("sale", {"amount": True}, "sale: amount must be a whole number"),
    ("sale", {"amount": 100, "card": ["debit"]}, "sale: card must be text"),
    ("refund", {"trace": 1, "amount": -5}, "refund: amount must be from 1"),
    ("refund", {"trace": 1, "amount": 1.5}, "refund: amount must be a whole number"),
    ("lookup", {"trace": {"$gt": 1}}, "lookup: trace must be a whole number"),
    ("lookup", {"date": 20260101}, "lookup: date must be text"),
    ("lookup", {"limit": 10 ** 9}, "lookup: limit must be from 1 to 1000"),
    ("receipt", {"id": "x"}, "receipt: id must be a whole number"),
    ("reversal_handled", {"id": 2 ** 70}, "reversal_handled: id must be from 1"),
    ("settle", {"confirm": "yes"}, "settle: confirm must be true or false"),
    ("void", {}, "void needs trace"),
    ("sale", {"amount": 100, "surprise": 1}, "sale: unknown argument 'surprise'"),
    ("launch", {}, "unknown operation 'launch'"),
])
def test_wrong_arguments_get_one_line_usage_errors(agent, op, args, expected):
    reply = agent.call(op, args, password=SUPERVISOR_PASSWORD)
    assert not reply["ok"] and reply["error"]["code"] == "usage", reply
    assert expected in reply["error"]["message"] and "\n" not in reply["error"]["message"]


def test_a_broken_request_frame_is_a_usage_error(agent):
    assert raw(agent, b'{"op": "sale", "args": [1, 2]}')["error"]["message"] == "sale: args must be an object, not list"
    assert raw(agent, b'{"op": 7}')["error"]["code"] == "usage"
    assert raw(agent, b'{"op": "ping", "password": 12}')["error"]["message"].startswith("password must be text")
    assert raw(agent, b"[" * 50000 + b"]" * 50000)["error"]["code"] == "usage"  # nesting past the recursion limit


def test_console_events_and_the_log_level_are_the_technicians(agent):
    refused = agent.call("console_event", {"kind": "config_set", "details": {"key": "acquirer.port"}})
    assert not refused["ok"] and refused["error"]["code"] == "auth" and "technician password" in refused["error"]["message"]
    assert not agent.call("log_level", {"level": "DEBUG"})["ok"]
    assert not agent.call("log_level", {"level": "DEBUG"}, password=SUPERVISOR_PASSWORD)["ok"]  # not the supervisor's
    assert agent.call("log_level", {"level": "DEBUG"}, password=TECH_PASSWORD)["result"]["level"] == "DEBUG"
    assert agent.call("console_event", {"kind": "config_set", "details": {"key": "acquirer.port"}},
                      password=TECH_PASSWORD)["ok"]
    # a failed login can be journaled by anyone, but only as its kind: no free text rides along
    assert agent.call("console_event", {"kind": "login_failed", "details": {"note": "forged"}})["ok"]
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT kind, operator, details FROM events WHERE kind LIKE 'console.%'").fetchall()
    assert [r[0] for r in rows] == ["console.config_set", "console.login_failed"]
    assert rows[1][1] == "console (not logged in)" and "forged" not in rows[1][2]


def test_a_file_at_the_control_socket_path_is_never_deleted(tmp_path, sim_host):
    from tests.agentproc import Agent, write_config
    config = write_config(tmp_path, sim_host.port)
    (tmp_path / "control.sock").write_text("precious\n")
    result = Agent(config, tmp_path).cli("run", timeout=60)
    assert result.returncode != 0 and "refusing to replace it" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "control.sock").read_text() == "precious\n"


def test_idle_connections_are_capped_and_the_daemon_still_serves(agent):
    held = []
    try:
        for _ in range(MAX_CONNECTIONS + 50):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(agent.socket))
            held.append(sock)
        over = held[-1]
        over.settimeout(30)
        busy = json.loads(over.makefile("rb").readline())
        assert busy["error"]["code"] == "busy"
    finally:
        for sock in held[:-1]:
            sock.close()
    assert agent.call("ping")["result"] == {"pong": True}
    held[-1].close()


def test_daemon_files_are_private(agent):
    agent.call("sale", {"amount": 100, "card": "debit"})
    for name in ("journal.db", "journal.db-wal", "journal.db-shm", "journal.db.lock", "agent.log",
                 "fingerprint.key", "working-keys.json"):
        path = agent.directory / name
        if path.exists():
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, f"{name} is {oct(os.stat(path).st_mode)}"


VALUES = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2 ** 80, max_value=2 ** 80)
                      | st.floats(allow_nan=True) | st.text(max_size=30),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                   max_size=3), max_leaves=6)
ARG_NAMES = sorted({name for row in registry.OPERATIONS.values() for name in row.args} | {"x"})
def _named_card(request: dict) -> dict:
    """A sale or correction always names a test card: the machine's one card reader is not this test's."""
    if request.get("op") in ("sale", "correct") and isinstance(request.get("args"), dict):
        request["args"].setdefault("card", "debit")
        if request["args"]["card"] is None:
            request["args"]["card"] = "debit"
    return request


#: requests close to valid ones: each operation's own arguments with plausible or random values, and the
#: right, a wrong or no password
PLAUSIBLE = {"amount": st.integers(min_value=-5, max_value=5000) | VALUES, "trace": st.integers(0, 8),
             "id": st.integers(0, 8), "card": st.just("debit"), "method": st.sampled_from(["auto", "refund", "x"]),
             "client_request_id": st.none() | st.text("abc123", min_size=1, max_size=8),
             "rrn": st.none() | VALUES, "date": st.none() | VALUES, "note": st.none() | st.text(max_size=20)}


def _near_valid(op: str):
    args = {name: PLAUSIBLE.get(name, st.booleans() if arg.kind == "bool" else VALUES)
            for name, arg in registry.OPERATIONS[op].args.items()}
    return st.fixed_dictionaries({"op": st.just(op), "args": st.fixed_dictionaries({}, optional=args),
                                  "password": st.sampled_from([None, "wrong-one", SUPERVISOR_PASSWORD])})


NEAR_VALID = st.sampled_from(["sale", "sale", "void", "refund", "settle", "correct", "reversal_handled",
                              "duplicates_fix"]).flatmap(_near_valid)

RANDOM = st.fixed_dictionaries(
    {"op": st.sampled_from(sorted(registry.OPERATIONS)) | VALUES},
    optional={"id": VALUES, "password": st.none() | st.text(max_size=12) | VALUES | st.just("wrong-one")
              | st.just(SUPERVISOR_PASSWORD),
              "args": st.dictionaries(st.sampled_from(ARG_NAMES),
                                      VALUES | st.integers(min_value=1, max_value=5000), max_size=4) | VALUES}
).map(_named_card)
REQUESTS = st.one_of(RANDOM, NEAR_VALID.map(_named_card))
#: operations that change the ledger (transactions, reversals, batches)
CHANGING = {"sale", "void", "refund", "correct", "duplicates_fix", "settle", "reversal_handled", "reversal_retry",
            "preauth", "preauth_void", "preauth_release", "preauth_complete", "completion_void", "wallet_sale",
            "wallet_correct", "wallet_cancel"}


def test_random_requests_never_give_internal_errors_nor_move_money_without_a_valid_operation(
        tmp_path, sim_host, tech_hash):
    # a long response timeout: a sale timed out on a loaded machine would move money (its reversal) under a
    # reply that is not "ok", which is right but not what this test is about
    agent = start_agent(tmp_path, sim_host.port, response_timeout=15.0,
                        extra=f'[console]\npassword_hash = "{tech_hash}"\n')
    try:
        @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(REQUESTS)
        # valid requests that move money, whatever the draw (the draw follows the registry's rows and names)
        @example({"op": "sale", "args": {"amount": 1234, "card": "debit"}})
        @example({"op": "settle", "args": {"confirm": True}, "password": SUPERVISOR_PASSWORD})
        def check(request):
            before = ledger_rows(agent)
            try:
                line = json.dumps(request).encode()
            except (ValueError, OverflowError):
                return
            reply = raw(agent, line)
            assert reply.get("error", {}).get("code") != "internal", (request, reply)
            if ledger_rows(agent) != before:
                assert reply["ok"] and request["op"] in CHANGING, (request, reply)
                if registry.role_for(request["op"], request.get("args")) == "supervisor":
                    assert request.get("password") == SUPERVISOR_PASSWORD

        check()
        moved = ledger_rows(agent)
    finally:
        agent.stop()
    assert "internal error" not in agent.log_text
    assert moved > 0  # the random requests did include valid sales: the "unless" branch was exercised


def test_an_idle_control_connection_is_closed(tmp_path):
    import asyncio

    from agent.daemon.control import serve

    async def go():
        path = tmp_path / "c.sock"
        server = await serve(None, path, 0o600, idle_timeout=0.2)
        reader, writer = await asyncio.open_unix_connection(str(path))
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the daemon, nothing sent
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(go())
