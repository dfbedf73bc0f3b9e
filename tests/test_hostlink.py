"""The agent's host link against the real simulator process, over real sockets: every fault kind."""

from __future__ import annotations

import asyncio

import pytest

from agent.drivers.hostlink import FrameError, HostLink, LinkClosed, LinkRefused, LinkTimeout
from agent.keys.store import SoftwareKeyStore
from agent.engine.netmgmt import apply_signon_response, build_echo, build_signon
from simulator.testcards import load_cards
from tests.simhost import CUP, DEFAULT_TMK, HEADER, TPDU, sale, terminal_config

CARDS = load_cards()
DEBIT = CARDS["debit"]


class Session:
    """A signed-on link plus what it saw unmatched."""

    def __init__(self, port: int, *, response_timeout: float = 5.0, connect_timeout: float = 2.0, **kw):
        self.unmatched: list[str] = []
        self.link = HostLink("127.0.0.1", port, dialect=CUP, tpdu=TPDU, header=HEADER,
                             connect_timeout=connect_timeout, response_timeout=response_timeout,
                             on_unmatched=lambda item, reason: self.unmatched.append(reason), **kw)
        self.keys = SoftwareKeyStore(DEFAULT_TMK)
        self.cfg = terminal_config()
        self.stan = 0
        self.batch = "000001"

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    async def signon(self):
        request = build_signon(self.cfg, self.next_stan())
        result = apply_signon_response(request, await self.link.exchange(request), self.keys)
        self.batch = result.batch_number
        return result

    def sale(self, amount: int):
        return self.keys.sign(CUP, sale(DEBIT, amount, self.next_stan(), batch=self.batch))


def run(coro):
    return asyncio.run(coro)


async def line_back(sim_host) -> None:
    """Clear the host's faults and wait until it listens again."""
    sim_host.control(op="clear")
    for _ in range(50):
        if sim_host.control(op="stats")["listening"]:
            break
        await asyncio.sleep(0.02)


def test_signon_echo_and_sale(sim_host):
    async def go():
        s = Session(sim_host.port)
        result = await s.signon()
        assert result.batch_number == "000001" and len(result.key_check_values["mac"]) == 8
        echo = await s.link.exchange(build_echo(s.cfg, s.next_stan()))
        assert echo[39] == "00"
        answer = await s.link.exchange(s.sale(2500))
        assert answer[39] == "00" and s.keys.verify_mac(CUP, answer)
        await s.link.close()
    run(go())
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 2500


def test_delay_past_timeout_is_linktimeout_and_the_connection_is_dropped(sim_host):
    async def go():
        s = Session(sim_host.port, response_timeout=0.3)
        await s.signon()
        sim_host.fault("delay:seconds=0.8,mti=0200,count=1")
        with pytest.raises(LinkTimeout) as info:
            await s.link.exchange(s.sale(100))
        assert info.value.sent
        # the timed-out connection is closed: its late answer can never be taken for a later request's,
        # and the next message goes out on a fresh connection
        assert not s.link.connected and s.link.drops == 1
        echo = await s.link.exchange(build_echo(s.cfg, s.next_stan()))
        assert echo[39] == "00" and s.link.connects == 2
        await s.link.close()
    run(go())
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 100  # money moved: the terminal must reverse


def test_drop_response_moves_money_and_times_out(sim_host):
    async def go():
        s = Session(sim_host.port, response_timeout=0.3)
        await s.signon()
        sim_host.fault("drop_response:count=1")
        with pytest.raises(LinkTimeout):
            await s.link.exchange(s.sale(300))
        await s.link.close()
    run(go())
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 300


@pytest.mark.parametrize("kind,moved", [("drop_before", 0), ("drop_after", 400)])
def test_dropped_connection_is_linkclosed_and_link_reconnects(sim_host, kind, moved):
    async def go():
        s = Session(sim_host.port)
        await s.signon()
        sim_host.fault(f"{kind}:mti=0200,count=1")
        with pytest.raises(LinkClosed) as info:
            await s.link.exchange(s.sale(400))
        assert info.value.sent
        echo = await s.link.exchange(build_echo(s.cfg, s.next_stan()))
        assert echo[39] == "00" and s.link.connects == 2
        await s.link.close()
    run(go())
    assert sim_host.ledger()["terminals"].get("10000001", {"net_charged": 0})["net_charged"] == moved


def test_duplicate_answer_second_copy_is_unmatched(sim_host):
    async def go():
        s = Session(sim_host.port)
        await s.signon()
        sim_host.fault("duplicate:count=1")
        answer = await s.link.exchange(s.sale(500))
        assert answer[39] == "00"
        await s.link.exchange(build_echo(s.cfg, s.next_stan()))
        assert any("0210" in reason for reason in s.unmatched)
        await s.link.close()
    run(go())


def test_corrupt_mac_answer_fails_verification(sim_host):
    async def go():
        s = Session(sim_host.port)
        await s.signon()
        sim_host.fault("corrupt_mac:count=1")
        answer = await s.link.exchange(s.sale(600))
        assert answer[39] == "00" and not s.keys.verify_mac(CUP, answer)
        await s.link.close()
    run(go())


def test_wrong_stan_never_matches_and_times_out(sim_host):
    async def go():
        s = Session(sim_host.port, response_timeout=0.5)
        await s.signon()
        sim_host.fault("wrong_stan:count=1")
        with pytest.raises(LinkTimeout):
            await s.link.exchange(s.sale(700))
        assert any("stan" in reason for reason in s.unmatched)
        await s.link.close()
    run(go())


def test_wrong_amount_is_matched_but_differs(sim_host):
    async def go():
        s = Session(sim_host.port)
        await s.signon()
        sim_host.fault("wrong_amount:count=1")
        request = s.sale(800)
        answer = await s.link.exchange(request)
        assert answer.amount == 801 and answer.amount != request.amount
        assert s.keys.verify_mac(CUP, answer)  # re-MACed: only the amount check catches it
        await s.link.close()
    run(go())


def test_garbage_answer_is_frameerror(sim_host):
    async def go():
        s = Session(sim_host.port)
        await s.signon()
        sim_host.fault("garbage:count=1")
        with pytest.raises(FrameError) as info:
            await s.link.exchange(s.sale(900))
        assert info.value.sent and info.value.length == 40
        assert not s.link.connected  # a framing error ends the connection; the next message opens a new one
        assert (await s.link.exchange(build_echo(s.cfg, s.next_stan())))[39] == "00" and s.link.connects == 2
        await s.link.close()
    run(go())


def test_tcp_keepalive_is_on(sim_host):
    import socket as pysocket

    async def go():
        s = Session(sim_host.port)
        await s.signon()
        sock = s.link._writer.get_extra_info("socket")
        assert sock.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE) == 1
        if hasattr(pysocket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPIDLE) == 30
        await s.link.close()
    run(go())


def test_refuse_is_linkrefused_with_nothing_sent_then_recovers(sim_host):
    async def go():
        sim_host.fault("refuse:seconds=60")
        s = Session(sim_host.port, connect_timeout=0.3)
        with pytest.raises(LinkRefused) as info:
            await s.link.exchange(build_echo(s.cfg, 1))
        assert not info.value.sent
        await line_back(sim_host)
        assert (await s.link.exchange(build_echo(s.cfg, 2)))[39] == "00"
        await s.link.close()
    run(go())


def test_a_connection_the_host_closed_is_never_written_to_before_the_reader_has_seen_it(sim_host):
    """The host's close is in the kernel, the reader task has not run yet (the loop was busy): the request
    goes on a new connection (refused: nothing sent), never into the closed one (sent, no answer: a
    reversal owed for a sale the bank never saw)."""
    import time

    async def go():
        s = Session(sim_host.port, connect_timeout=0.3)
        await s.signon()
        sim_host.fault("outage:seconds=60")  # blocking: the loop does not turn, the reader task cannot run
        time.sleep(0.1)
        assert s.link.connected  # as far as the reader task knows
        with pytest.raises(LinkRefused) as info:
            await s.link.exchange(build_echo(s.cfg, s.next_stan()))
        assert not info.value.sent
        await line_back(sim_host)
        await s.link.exchange(build_echo(s.cfg, s.next_stan()))  # a live connection again
        sim_host.fault("outage:seconds=0.3")  # the host leaves the connection and is back before the next request
        time.sleep(0.6)
        assert (await s.link.exchange(build_echo(s.cfg, s.next_stan())))[39] == "00"
        assert s.link.connects == 3 and s.link.drops == 0
        await s.link.close()
    run(go())


def test_an_answer_that_came_before_the_host_closed_still_reaches_its_request():
    """The host answers one request and closes; before the reader task has run, a second request is sent:
    the first still gets its answer (read from before the close), the second goes on a new connection."""
    import socket
    import threading
    import time

    from agent.iso8583 import Message

    answered = threading.Event()
    go_on = threading.Event()

    def read_frame(conn: socket.socket):
        size = int.from_bytes(conn.recv(2, socket.MSG_WAITALL), "big")
        return CUP.unpack_frame(conn.recv(size, socket.MSG_WAITALL)).message

    def answer(conn: socket.socket, request) -> None:
        reply = Message(f"{int(request.mti) + 10:04d}", {11: request[11], 41: request[41], 39: "00"})
        conn.sendall(CUP.pack_frame(reply, TPDU, HEADER))

    def serve(listener: socket.socket) -> None:
        first, _ = listener.accept()
        request = read_frame(first)
        go_on.wait(5)
        answer(first, request)
        first.shutdown(socket.SHUT_RDWR)
        first.close()
        answered.set()
        second, _ = listener.accept()
        answer(second, read_frame(second))
        second.close()

    listener = socket.create_server(("127.0.0.1", 0))
    server = threading.Thread(target=serve, args=(listener,), daemon=True)
    server.start()

    async def go():
        s = Session(listener.getsockname()[1], connect_timeout=2.0)
        first = asyncio.ensure_future(s.link.exchange(build_echo(s.cfg, 1)))
        await asyncio.sleep(0.2)  # sent; its answer not yet given
        go_on.set()
        assert answered.wait(5)
        time.sleep(0.1)  # the answer and the close are in the kernel; the loop has not turned
        second = await s.link.exchange(build_echo(s.cfg, 2))
        assert second[39] == "00" and second[11] == "000002"
        assert (await first)[39] == "00"
        assert s.link.connects == 2
        await s.link.close()
    try:
        run(go())
    finally:
        listener.close()
        server.join(5)


def test_probability_fault_with_seed_is_reproducible(sim_host):
    async def pattern() -> list[bool]:
        sim_host.control(op="clear")
        sim_host.fault("corrupt_mac:probability=0.5,seed=42")
        s = Session(sim_host.port)
        await s.signon()
        seen = []
        for _ in range(8):
            answer = await s.link.exchange(s.sale(1))
            seen.append(s.keys.verify_mac(CUP, answer))
        await s.link.close()
        return seen
    first = run(pattern())
    second = run(pattern())
    assert first == second and True in first and False in first


def test_oversize_and_garbage_frames_from_a_raw_server():
    async def go():
        async def serve(reader, writer):
            await reader.read(2)
            writer.write((9000).to_bytes(2, "big") + b"x" * 10)
            await writer.drain()
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        s = Session(port)
        with pytest.raises(FrameError) as info:
            await s.link.exchange(build_echo(s.cfg, 1))
        assert info.value.length == 9000 and info.value.sent
        await s.link.close()
        server.close()
    run(go())


def test_connect_retries_with_backoff_until_the_host_appears(tmp_path):
    from tests.harness import free_port
    from tests.simhost import start_host

    port = free_port()

    async def go():
        s = Session(port, connect_timeout=15.0)
        task = asyncio.ensure_future(s.link.exchange(build_echo(s.cfg, 1)))
        await asyncio.sleep(0.3)
        assert not task.done()
        host = await asyncio.to_thread(start_host, tmp_path, "--port", str(port))
        try:
            assert (await task)[39] == "00"
        finally:
            await s.link.close()
            host.stop()
    run(go())
