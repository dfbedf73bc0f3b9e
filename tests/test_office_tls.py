"""The collector behind TLS (`posoffice serve --tls-cert --tls-key`) and the terminal's shipper verifying it
(`[office] ca_file`), with the test CA the host link's TLS tests use (tests/testca.py): a real TLS socket
between the shipper and the collector as a process, on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from agent.config import load as load_config
from agent.journal import Journal
from agent.office.link import ShipError, refundable
from agent.office.shipper import cursor_path, ship_once
from agent.drivers.preflight import problems
from posoffice import db, store
from tests.agentproc import write_config
from tests.pgcluster import ROOT, Collector, pg_cluster  # noqa: F401
from tests.testca import pki  # noqa: F401 (the fixture)

TERMINAL = "T0001"


@pytest.fixture
def office(pg_cluster, pki):
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secret = store.add_terminal(conn, TERMINAL, "M1")
    collector = Collector(dsn, tls=pki["host"])
    yield collector, secret
    collector.stop()


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "journal.db"
    with Journal.open(path, fingerprint_key=b"k" * 16) as j:
        for i in range(5):
            j.record_event("office.test", {"n": i}, operator="01", role="supervisor")
    with Journal.open(path, fingerprint_key=None, read_only=True) as j:
        head = j.core.conn.execute("SELECT max(id) FROM events").fetchone()[0]
    return path, head


def stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE terminal = %s", (TERMINAL,)).fetchone()[0]


def test_the_collector_serves_https_and_a_shipper_trusting_its_ca_ships(office, journal, pki):
    collector, secret = office
    path, head = journal
    assert collector.url.startswith("https://127.0.0.1:")
    result = ship_once(path, collector.url, TERMINAL, secret, ca_file=pki["ca"])
    assert (result.acked, result.head) == (head, head) and stored(collector.dsn) == head
    # the refund question goes the same way
    assert refundable(collector.url, TERMINAL, secret, "000000000001", "1203", ca_file=pki["ca"]) is None


def test_a_collector_signed_by_another_ca_is_refused_with_the_ca_named_and_nothing_sent(office, journal, pki):
    collector, secret = office
    path, _ = journal
    with pytest.raises(ShipError) as refused:
        ship_once(path, collector.url, TERMINAL, secret, ca_file=pki["other_ca"])
    message = str(refused.value)
    assert "is not trusted" in message and pki["other_ca"] in message and "certificate verify failed" in message
    assert "\n" not in message and refused.value.retry is False
    with pytest.raises(ShipError, match=r"not trusted: .* this machine's CAs \(\[office\] ca_file unset\)"):
        ship_once(path, collector.url, TERMINAL, secret)  # the system's CAs do not know the test CA
    assert stored(collector.dsn) == 0 and not cursor_path(path).exists()


def test_plain_http_is_refused_when_tls_is_configured(office, journal, pki):
    collector, secret = office
    path, _ = journal
    plain = collector.url.replace("https://", "http://")
    with pytest.raises(ShipError, match=r"plain http while a CA file is set .*; expected https://") as refused:
        ship_once(path, plain, TERMINAL, secret, ca_file=pki["ca"])
    assert refused.value.retry is False
    # without a CA file the shipper tries; the TLS collector does not speak plain HTTP
    with pytest.raises(ShipError, match=r"unreachable: .*\(does the office serve https\?\)"):
        ship_once(path, plain, TERMINAL, secret, timeout=5)
    assert stored(collector.dsn) == 0


def test_config_check_refuses_a_ca_file_with_plain_http_or_a_file_that_is_no_ca(tmp_path, pki):
    secret = tmp_path / "office.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    not_a_ca = tmp_path / "not-a-ca.pem"
    not_a_ca.write_text("hello\n")
    cases = {("http://127.0.0.1:9/v1/events", pki["ca"]): "office.ca_file: set, but office.url "
                                                          "http://127.0.0.1:9/v1/events is plain http",
             ("https://127.0.0.1:9/v1/events", str(not_a_ca)): f"office.ca_file: {not_a_ca}: expected PEM CA "
                                                                f"certificates"}
    for (url, ca), expected in cases.items():
        extra = f'[office]\nurl = "{url}"\nsecret_file = "{secret}"\nca_file = "{ca}"\n'
        found = problems(load_config(write_config(tmp_path, 9, extra=extra)))
        assert any(line.startswith(expected) for line in found), found
    extra = f'[office]\nurl = "https://127.0.0.1:9/v1/events"\nsecret_file = "{secret}"\nca_file = "{pki["ca"]}"\n'
    assert not [p for p in problems(load_config(write_config(tmp_path, 9, extra=extra))) if p.startswith("office")]


def test_serve_with_a_certificate_that_does_not_load_is_one_line(pg_cluster, pki, tmp_path):
    dsn = pg_cluster.new_database()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    for extra, expected in ((["--tls-cert", str(bad)], f"--tls-cert {bad}: expected a PEM certificate"),
                            (["--tls-cert", pki["host"][0], "--tls-key", pki["client"][1]],
                             "expected a PEM certificate and its unencrypted private key"),
                            (["--tls-key", pki["host"][1]], "--tls-key needs --tls-cert")):
        run = subprocess.run([sys.executable, "-m", "posoffice", "serve", "--port", "0", "--dsn", dsn, *extra],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and expected in run.stderr, run
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
