"""Crash safety: a child process writes transactions in a loop and is killed with SIGKILL at random
moments, hundreds of times.  After every kill the journal opens, SQLite's integrity check and the hash
chain pass, everything the child saw committed is there, every intent without an outcome is reported
in doubt, and no trace number was ever handed out twice.

This proves crash safety (the OS keeps what was written), not power-loss safety.  The default run does
300 kills; set POSAGENT_CRASH_KILLS for a longer one.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time


from agent.journal import Journal, JournalError

KEY = b"test-fingerprint-key-0123456789ab"
PANS = ("6226090000000048", "6226090000000055", "6226090000000063")
KILLS = int(os.environ.get("POSAGENT_CRASH_KILLS", "300"))


def _say(fd: int, *words) -> None:
    os.write(fd, (" ".join(map(str, words)) + "\n").encode())


def _child(path: str, fd: int, seed: int) -> None:
    """Write forever (until killed): sales, refunds, answers, failures, reversals, settlements."""
    rng = random.Random(seed)
    j = Journal.open(path, fingerprint_key=KEY)
    recovery = j.in_doubt()
    for txn in recovery.unanswered:  # what the engine does at start
        j.fail(txn.id, reason="98", error="no outcome before restart")
        _say(fd, "F", txn.id)
    if recovery.settling is not None:  # a settlement interrupted by the kill resumes
        j.finish_settlement(recovery.settling.number)
        _say(fd, "S", recovery.settling.number)
    _say(fd, "O")  # open and recovered: the writing starts now
    while True:
        roll = rng.random()
        pending = j.pending_reversals()
        if pending and roll < 0.5:
            rev = pending[0]
            j.reversal_attempt(rev.id, {"mti": "0400", "11": f"{rev.trace:06d}"})
            if rng.random() < 0.7:
                j.reversal_acknowledged(rev.id, {"mti": "0410", "39": "00"})
                _say(fd, "R", rev.txn_id)
            else:
                j.reversal_failed(rev.id, "timeout", max_tries=3)
            continue
        if roll < 0.05:
            _say(fd, "T", j.take_trace("echo"))
            continue
        if roll < 0.08 and not pending:
            batch = j.open_batch()
            try:
                j.begin_settlement(batch.number)
            except JournalError:
                continue  # something still unresolved in the batch
            j.finish_settlement(batch.number)
            _say(fd, "S", batch.number)
            continue
        kind, original = "sale", None
        if roll < 0.25:
            candidates = [t for t in j.find(limit=20) if t.kind == "sale" and t.state in ("approved", "refunded_partially")]
            if candidates:
                original = rng.choice(candidates)
                left = j.refundable_amount(original.id)
                if left > 0:
                    kind = "refund"
        amount = rng.randint(1, left) if kind == "refund" else rng.randint(1, 50_000)
        txn = j.begin(kind, amount=amount, currency="156", pan=rng.choice(PANS), entry_mode="051",
                      operator="01", role="cashier", original_id=original.id if kind == "refund" else None,
                      request=lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}", "60.2": f"{batch:06d}"})
        _say(fd, "B", txn.id, txn.trace)
        outcome = rng.random()
        if outcome < 0.75:
            j.complete(txn.id, approved=outcome < 0.7, response_code="00" if outcome < 0.7 else "51",
                       rrn="000000000001", auth_code="A1", response={"mti": "0210"})
            _say(fd, "C", txn.id)
        elif outcome < 0.9:
            j.fail(txn.id, reason="98", error="timeout")
            _say(fd, "F", txn.id)
        # else: left "sending", as if the process died waiting for the host


def _run_and_kill(path: str, seed: int, delay: float, *, after_open: bool) -> list[list[str]]:
    """Fork a writer and SIGKILL it `delay` seconds after its start — or, with `after_open`, after it
    said the journal is open, so a loaded machine still kills it while it writes, not while it starts."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        code = 0
        try:
            _child(path, write_end, seed)
        except BaseException:  # pragma: no cover - reported through the exit status
            import traceback
            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    head = b""
    if after_open:
        deadline = time.monotonic() + 30
        while b"O\n" not in head and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], 1.0)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                head += chunk
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    chunks = [head]
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
        f"the writer stopped on its own (status {status}) before it was killed"
    return [words for line in b"".join(chunks).decode().splitlines() if (words := line.split()) != ["O"]]


#: kills per journal file: a fresh file every so often keeps the full verify after each kill cheap
KILLS_PER_FILE = 50


def test_sigkill_at_random_moments_never_loses_or_repeats_anything(tmp_path):
    rng = random.Random(20261123)
    total_begun = 0
    for kill in range(KILLS):
        if kill % KILLS_PER_FILE == 0:
            path = str(tmp_path / f"journal-{kill // KILLS_PER_FILE}.db")
            reported_begin: dict[int, int] = {}
            completed: set[int] = set()
            network_traces: list[int] = []
        delay = rng.choice((0.0, 0.001, 0.003)) if kill % 10 == 0 else rng.uniform(0.002, 0.04)
        for words in _run_and_kill(path, rng.randrange(2 ** 32), delay, after_open=kill % 10 != 0):
            if words[0] == "B":
                reported_begin[int(words[1])] = int(words[2])
                total_begun += 1
            elif words[0] == "C":
                completed.add(int(words[1]))
            elif words[0] == "T":
                network_traces.append(int(words[1]))
        if not os.path.exists(path):
            continue  # killed before the file was created
        j = Journal.open(path, fingerprint_key=KEY)
        try:
            verdict = j.verify()
            assert verdict.ok, f"after kill {kill}: {verdict}"
            conn = j.core.conn
            traces = [r[0] for r in conn.execute("SELECT trace FROM transactions")]
            assert len(traces) == len(set(traces)), f"after kill {kill}: a trace number was used twice"
            assert not set(traces) & set(network_traces) and len(network_traces) == len(set(network_traces))
            last = conn.execute("SELECT value FROM counters WHERE name = 'trace'").fetchone()[0]
            assert all(t <= last for t in traces + network_traces)
            for txn_id, trace in reported_begin.items():
                assert j.get(txn_id).trace == trace, f"after kill {kill}: committed transaction {txn_id} lost"
            for txn_id in completed:
                assert j.get(txn_id).state not in ("sending",), f"after kill {kill}: outcome of {txn_id} lost"
            recovery = j.in_doubt()
            unanswered = {t.id for t in recovery.unanswered}
            pending = {r.txn_id for r in recovery.pending_reversals + recovery.needs_manual}
            for row in conn.execute("SELECT id, state FROM transactions WHERE state IN ('sending', 'in_doubt')"):
                if row[1] == "sending":
                    assert row[0] in unanswered, f"intent {row[0]} not reported in doubt (its reversal is armed)"
                else:
                    assert row[0] in pending, f"in-doubt transaction {row[0]} has no reversal queued"
            live = conn.execute("SELECT number, state FROM batches WHERE state != 'settled'").fetchall()
            assert len(live) == 1, "exactly one live batch"
            if live[0][1] == "settling":
                assert recovery.settling is not None and recovery.settling.number == live[0][0]
        finally:
            j.close()
    assert total_begun > KILLS // 10, f"the writer barely wrote anything between kills ({total_begun})"
