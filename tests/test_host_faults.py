"""Fault rules: text form, targeting (next N, MTI, probability with a seed), and bad specs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from simulator.host.faults import FAULT_KINDS, FaultPlan, FaultSpecError, parse_rule
from tests.simhost import ROOT


@settings(max_examples=30)
@given(st.sampled_from(sorted(FAULT_KINDS)), st.integers(1, 50), st.integers(0, 100))
def test_text_form_round_trips(kind, count, seed):
    rule = parse_rule(f"{kind}:count={count},mti=0200,p=0.25,seed={seed}")
    assert parse_rule(rule.to_text()) == rule


@settings(max_examples=30)
@given(st.integers(1, 20), st.lists(st.sampled_from(["0200", "0400", "0800"]), max_size=40))
def test_next_n_of_an_mti_fires_exactly_n_times(n, mtis):
    plan = FaultPlan([parse_rule(f"drop_after:count={n},mti=0200")])
    fired = [mti for mti in mtis if plan.pick(mti) is not None]
    assert all(mti == "0200" for mti in fired)
    assert len(fired) == min(n, mtis.count("0200"))


def test_probability_with_seed_is_reproducible():
    def pattern():
        plan = FaultPlan([parse_rule("garbage:probability=0.3,seed=9")])
        return [plan.pick("0200") is not None for _ in range(200)]
    first = pattern()
    assert first == pattern() and 30 < sum(first) < 90


@pytest.mark.parametrize("spec", ["nosuch", "delay:count=0", "delay:mti=02", "delay:p=2", "delay:x=1",
                                  "delay:count=1_0", "delay:seconds"])
def test_bad_specs_are_refused_with_a_reason(spec):
    with pytest.raises(FaultSpecError):
        parse_rule(spec)


def test_cli_bad_fault_is_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "--port", "0", "--control-port", "0",
                             "--db", str(tmp_path / "l.db"), "--fault", "explode"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "unknown fault" in result.stderr and "Traceback" not in result.stderr


def test_control_channel_lists_and_clears(sim_host):
    sim_host.fault("delay:seconds=1,count=3")
    assert sim_host.control(op="list")["faults"] == [{"rule": "delay:count=3,seconds=1", "remaining": 3}]
    assert sim_host.control(op="clear")["removed"] == 1


def test_ledger_cli_on_missing_file_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "ledger", "--db",
                             str(tmp_path / "none.db"), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_skip_lets_the_first_matching_messages_through():
    rule = parse_rule("decline:mti=0200,count=1,skip=1")
    assert parse_rule(rule.to_text()) == rule
    plan = FaultPlan([rule])
    assert plan.pick("0220") is None  # another MTI does not count
    assert plan.pick("0200") is None  # the first 0200 (a correction's void) goes through
    assert plan.pick("0200").kind == "decline"  # the second (its new sale) is declined
    assert plan.pick("0200") is None and plan.rules == []
    with pytest.raises(FaultSpecError, match="skip"):
        parse_rule("decline:skip=x")


def test_a_control_port_answering_json_that_is_no_object_is_refused_in_one_line():
    import socket
    import threading

    with socket.create_server(("127.0.0.1", 0)) as server:
        def answer() -> None:  # something on the control port that answers JSON, but not the host's object
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"[1, 2]\n")

        threading.Thread(target=answer, daemon=True).start()
        result = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "stats", "--control",
                                 f"127.0.0.1:{server.getsockname()[1]}"], capture_output=True, text=True, cwd=ROOT,
                                timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "the control port answered something that is not a JSON object" in result.stderr


def test_advices_refused_is_picked_for_advices_only_and_lets_the_next_rule_fire_for_the_rest():
    plan = FaultPlan([parse_rule("advices_refused"), parse_rule("delay:mti=0500,count=1,seconds=3")])
    assert plan.pick("0200") is None and plan.pick("0820") is None  # a sale, an echo: processed as usual
    assert plan.pick("0220").kind == plan.pick("0221").kind == "advices_refused"  # an advice and its repeat
    assert plan.pick("0500").kind == "delay"  # not taken by the armed advices_refused
    assert [r.kind for r in plan.rules] == ["advices_refused"]  # it stays armed until cleared
