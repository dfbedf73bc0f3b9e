"""The fleet load generator behind `bench.host`, against a real `posim host` over TCP: a clean run is
counted and matches the ledger; a wrong MAC, a decline and a closed connection are each counted as
errors with a line that names the terminal and trace (the figure is never reported clean when the
host misbehaved)."""

from __future__ import annotations

from bench.fleet import AMOUNT, drive, limited_by
from bench.host import check_ledger
from tests.simhost import start_host


def test_a_clean_run_answers_every_sale_and_the_ledger_holds_exactly_the_money(tmp_path):
    host = start_host(tmp_path)
    try:
        result = drive(host, terminals=5, sales=4, drivers=2)
    finally:
        host.stop()
    assert result["errors"] == 0 and result["first_error"] is None, result
    assert result["messages"] == 20 and result["msgs_per_s"] > 0
    assert 0 < result["sale_p50_ms"] <= result["sale_p99_ms"]
    assert result["host_cpu_per_msg_ms"] >= 0 and result["limited_by"]  # 20 messages may take less than a clock tick
    assert check_ledger(host, 20 * AMOUNT)


def test_a_bad_mac_and_a_decline_are_errors_named_by_terminal_and_trace(tmp_path):
    results = []
    for n, rule in enumerate(("corrupt_mac:mti=0200,count=1", "decline:mti=0200,count=2")):
        (tmp_path / str(n)).mkdir()
        host = start_host(tmp_path / str(n))  # a fresh ledger: the fleet's trace numbers start again
        try:
            host.fault(rule)
            results.append(drive(host, terminals=3, sales=3, drivers=1))
        finally:
            host.stop()
    first, second = results
    assert first["errors"] == 1 and "bad MAC" in first["first_error"], first
    assert second["errors"] == 2 and "code 05" in second["first_error"], second
    assert second["first_error"].split()[0].startswith("9") and "stan 0000" in second["first_error"]


def test_a_connection_the_host_closes_counts_every_unanswered_sale(tmp_path):
    host = start_host(tmp_path)
    try:
        host.fault("drop_after:mti=0200,count=1")
        result = drive(host, terminals=2, sales=5, drivers=1)
    finally:
        host.stop()
    # one terminal loses its connection on its first sale: that sale and its 4 others go unanswered
    assert result["errors"] == 5, result
    assert "after 0 of 5 answers" in result["first_error"]
    assert result["messages"] == 5


def test_what_limited_the_figure_is_read_from_the_cpu_shares():
    base = {"host_cpu_share": 0.3, "busiest_driver_cpu_share": 0.1, "drivers_cpu_share": 0.2,
            "others_cpu_share": 1.4, "machine_busy_share": 1.95}
    assert limited_by({**base, "host_cpu_share": 0.97}, 2).startswith("host CPU")
    assert limited_by({**base, "busiest_driver_cpu_share": 0.9}, 2).startswith("a driver")
    assert "other work 140%" in limited_by(base, 2)
    assert limited_by({**base, "machine_busy_share": 0.8}, 2).startswith("neither")
