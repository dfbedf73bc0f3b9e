"""Group commit in the acquirer simulator: many terminals' requests share one durable commit, no answer
leaves before its row is committed, a SIGKILL of the host loses no answered message, a failed commit
answers nothing and keeps nothing, and one failing request does not take its group down."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from agent import config
from agent.iso8583 import get_dialect
from agent.keys.store import SoftwareKeyStore
from agent.engine.netmgmt import apply_signon_response, build_signon
from simulator.host.groupcommit import GroupCommit, LedgerUnavailable
from simulator.host.ledger import Ledger
from simulator.host.processing import HostProcessor
from simulator.host.server import HostServer
from simulator.testcards import load_cards
from tests.simhost import CUP, DEFAULT_TMK, HEADER, TPDU, sale, start_host
from tests.test_codec_strategies import messages

CARDS = load_cards()


class RawTerminal:
    """One terminal on its own TCP connection, sending frames the way the agent's link does."""

    def __init__(self, tid: str):
        self.tid = tid
        self.keys = SoftwareKeyStore(DEFAULT_TMK)
        self.batch = "000001"
        self.stan = 1

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        request = build_signon(config.from_mapping({"terminal": {"terminal_id": self.tid}}), self.stan)
        self.batch = apply_signon_response(request, await self.exchange(request), self.keys).batch_number

    async def exchange(self, msg):
        self.writer.write(CUP.pack_frame(msg, TPDU, HEADER))
        prefix = await self.reader.readexactly(2)
        return CUP.unpack_frame(await self.reader.readexactly(CUP.frame_length(prefix))).message

    async def sale(self, amount: int):
        self.stan += 1
        msg = self.keys.sign(CUP, sale(CARDS["credit"], amount, self.stan, tid=self.tid, batch=self.batch))
        return msg, await self.exchange(msg)

    def close(self) -> None:
        self.writer.close()


# -- SIGKILL of the real host process ----------------------------------------------------------------
async def _sell_until_killed(port: int, tids: list[str], answered: list, kill_after: float, proc) -> None:
    terminals = [RawTerminal(tid) for tid in tids]
    for t in terminals:
        await t.open(port)

    async def keep_selling(t: RawTerminal):
        rng = random.Random(t.tid)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                msg, answer = await t.sale(rng.randint(1, 900))
                answered.append((t.tid, t.batch, msg[11], int(msg[4]), answer[39], answer.get(37)))

    tasks = [asyncio.create_task(keep_selling(t)) for t in terminals]
    await asyncio.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)  # mid-stream: groups are being built, committed and answered
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    for t in terminals:
        t.close()


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_sigkill_of_the_host_loses_no_answered_message(tmp_path, sync):
    rng = random.Random(sync)
    answered: list[tuple] = []
    for round_no in range(3):
        host = start_host(tmp_path, "--sync", sync)  # the same ledger file each round
        try:
            tids = [f"7{round_no}{n:06d}" for n in range(12)]
            asyncio.run(_sell_until_killed(host.port, tids, answered, rng.uniform(0.3, 0.9), host.proc))
        finally:
            host.proc.wait(10)
            host.stop()
    approved = [a for a in answered if a[4] == "00"]
    assert len(approved) > 50  # the kill landed mid-stream, not before anything was sold
    ledger = Ledger(tmp_path / "host-ledger.db")
    try:
        for tid, batch, stan, amount, _code, rrn in approved:
            row = ledger.find_by_trace(tid, batch, stan)
            assert row is not None, f"answered sale {tid}/{batch}/{stan} is not in the ledger"
            assert (row.response_code, row.rrn, row.amount) == ("00", rrn, amount)
        assert ledger.verify_balances() == []
        # rows may be durable whose answer never left (killed in between) — never the other way round
        assert ledger.card_net_charged("credit") >= sum(a[3] for a in approved)
    finally:
        ledger.close()


# -- in-process server: commit failure, grouping ------------------------------------------------------
class FlakyLedger(Ledger):
    """A real ledger whose next group commit can be made to fail (as a full disk would)."""

    fail_next = False

    @contextlib.contextmanager
    def group(self):
        with super().group():
            yield
            if self.fail_next:
                self.fail_next = False
                raise sqlite3.OperationalError("database or disk is full")


def _server(tmp_path, ledger_cls=Ledger):
    ledger = ledger_cls(tmp_path / "host.db")
    processor = HostProcessor(ledger, CARDS, dialect=get_dialect("cup"), tmk_for=lambda tid: DEFAULT_TMK)
    return ledger, HostServer(processor, control_port=None)


def test_a_failed_commit_answers_none_of_its_group_and_keeps_none_of_it(tmp_path):
    ledger, server = _server(tmp_path, FlakyLedger)

    async def scenario():
        await server.start()
        a, b = RawTerminal("10000001"), RawTerminal("10000002")
        await a.open(server.port)
        await b.open(server.port)
        ledger.fail_next = True
        results = await asyncio.gather(a.sale(100), b.sale(200), return_exceptions=True)
        lost = [r for r in results if isinstance(r, asyncio.IncompleteReadError)]
        assert lost, results  # at least the first group failed: its terminals saw the connection close
        for t, r in zip((a, b), results):
            row = ledger.find_by_trace(t.tid, t.batch, f"{t.stan:06d}")
            assert (row is None) == isinstance(r, asyncio.IncompleteReadError)  # no answer ⇔ no row
        kept = sum(int(r[0][4]) for r in results if not isinstance(r, BaseException))
        # the host is still up, the keys still good: a new connection sells again
        c = RawTerminal("10000001")
        await c.open(server.port)
        c.stan = 50
        _msg, answer = await c.sale(300)
        assert answer[39] == "00"
        for t in (a, b, c):
            t.close()
        await server.close()
        return kept

    kept = asyncio.run(scenario())
    assert server.group.stats.failed_groups == 1
    assert ledger.card_net_charged("credit") == 300 + kept
    assert ledger.verify_balances() == []
    ledger.close()


def test_terminals_that_send_together_share_a_commit(tmp_path):
    ledger, server = _server(tmp_path)

    async def scenario():
        await server.start()
        terminals = [RawTerminal(f"2000{n:04d}") for n in range(30)]
        for t in terminals:
            await t.open(server.port)
        before = server.group.stats.groups
        for _ in range(5):
            answers = await asyncio.gather(*(t.sale(10) for t in terminals))
            assert all(answer[39] == "00" for _msg, answer in answers)
        groups = server.group.stats.groups - before
        for t in terminals:
            t.close()
        await server.close()
        return groups

    groups = asyncio.run(scenario())
    assert groups < 5 * 30 / 3, f"150 sales in {groups} commits: no grouping"
    assert ledger.card_net_charged("credit") == 30 * 5 * 10
    assert ledger.verify_balances() == []
    ledger.close()


def test_a_failing_request_undoes_only_its_own_writes_and_the_rest_of_its_group_commits(tmp_path):
    ledger = Ledger(tmp_path / "host.db")
    group = GroupCommit(ledger)

    def write(stan: str, fail: bool = False):
        def work():
            ledger.record_txn(tid="1", mid="m", batch="000001", stan=stan, mti="0200", kind="sale", card="debit",
                              masked_pan=None, amount=5, local_date="1123", response_code="00", icc=False,
                              orig_id=None, now="t")
            if fail:
                raise ValueError("handler bug")
            return stan
        return work

    async def scenario():
        return await asyncio.gather(group.run(write("000001")), group.run(write("000002", fail=True)),
                                    group.run(write("000003")), return_exceptions=True)

    results = asyncio.run(scenario())
    assert results[0] == "000001" and results[2] == "000003" and isinstance(results[1], ValueError)
    assert group.stats.groups == 1 and group.stats.requests == 3
    assert ledger.find_by_trace("1", "000001", "000002") is None
    assert ledger.card_net_charged("debit") == 10
    assert ledger.verify_balances() == []
    with pytest.raises(RuntimeError, match="needs an open group"):
        with ledger.step():
            pass
    ledger.close()
    assert issubclass(LedgerUnavailable, Exception)


# -- the MAC checked over the bytes as received ---------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(data=st.data(), key=st.binary(min_size=16, max_size=16))
def test_mac_over_the_received_bytes_agrees_with_the_mac_over_the_decoded_message(data, key):
    msg = data.draw(messages("cup"))
    signed = CUP.with_mac(key, msg.replace({64: bytes(8)}))
    encoded = CUP.encode(signed)
    assert CUP.verify_mac(key, signed, encoded=encoded) and CUP.verify_mac(key, signed)
    position = data.draw(st.integers(0, len(encoded) - 9))
    tampered = encoded[:position] + bytes([encoded[position] ^ 0x01]) + encoded[position + 1:]
    assert not CUP.verify_mac(key, signed, encoded=tampered)
