"""The journal port: plans ask typed questions, the message of a request is built once and outside the
journal's commit, and a binding that lacks a question is refused where it is bound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from agent.engine import common
from agent.engine.card import sale as card_sale
from agent.engine.port import METHODS, Ask, ask, check_port
from agent.journal import Journal, JournalError
from agent.iso8583.dump import message_to_json
from agent.journal.records import Begun
from agent.journal.scrub import scrub_message
from tests.enginekit import CASHIER, PROFILE, RecordingJournal

KEY = b"k" * 32
REQUEST = {"mti": "0200", "3": "000000", "4": "000000001000"}


def begin_args(**extra):
    args = dict(amount=1000, currency="156", pan="6226090000000048", entry_mode="051", operator="01",
                role="cashier")
    args.update(extra)
    return args


# ---------------------------------------------------------------- the port's questions

def test_a_question_is_data_checked_against_the_port_signature():
    effect = ask.fail(7, reason="98", error="no answer")
    assert effect == Ask("fail", (7,), {"reason": "98", "error": "no answer"})
    with pytest.raises(TypeError, match=r"journal port fail.*reason"):
        ask.fail(7, error="no answer")  # a required argument left out
    with pytest.raises(TypeError, match="journal port get"):
        ask.get(7, state="approved")  # an argument the port does not have
    with pytest.raises(AttributeError):
        ask.drop_table()  # not a question of the port


def test_the_journal_facade_and_the_recording_stub_implement_the_port(tmp_path):
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as journal:
        check_port(journal)
        stub = RecordingJournal(journal)
        check_port(stub)


def test_a_binding_without_every_question_is_refused_by_name():
    class Partial:
        def get(self, txn_id):
            return None

    with pytest.raises(TypeError, match=r"Partial does not implement the journal port: missing next_numbers; missing begin_request"):
        check_port(Partial())


def test_a_binding_whose_method_takes_other_arguments_is_refused():
    class Wrong(RecordingJournal):
        def fail(self, txn_id, reason, error, response=None, *, force):  # positional reason, extra required
            return None

    with Journal.open(__import__("tempfile").mkdtemp() + "/j.db", fingerprint_key=KEY) as journal:
        with pytest.raises(TypeError, match=r"fail\(reason\) differs.*fail requires force"):
            check_port(Wrong(journal))


# ---------------------------------------------------------------- one message build, outside the commit

def test_a_sale_builds_its_message_once_and_sends_what_it_journaled(world, monkeypatch):
    built = []
    real = card_sale.sale_request

    def counting(*args, **kwargs):
        message = real(*args, **kwargs)
        built.append(message)
        return message
    monkeypatch.setattr(card_sale, "sale_request", counting)
    sent = []
    exchange = world.exchange
    monkeypatch.setattr(world, "exchange", lambda request: sent.append(request) or exchange(request))
    outcome = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(2500, test_card="debit"), CASHIER))
    assert outcome.status == "approved", outcome.message
    assert len(built) == 1
    assert built[0] is sent[-1]  # the very message journaled is the one sent (MAC added on the way)
    stored = next(m["body"] for m in world.journal.messages(outcome.txn.id) if m["body"]["mti"] == "0200")
    assert stored == scrub_message(message_to_json(built[0], masked=True))
    names = world.port.names()
    assert names.index("begin_request") < names.index("complete")
    assert names[-1] == "complete"


def _begin_on(journal, build, **extra):
    """Drive the engine's `common.begin` on a real journal: every effect it yields is a port question."""
    plan = common.begin(build, lambda trace, batch, message: ask.begin_request(
        "sale", trace=trace, batch=batch, message=message, **begin_args(**extra)))
    result = None
    while True:
        try:
            effect = plan.send(result)
        except StopIteration as stop:
            return stop.value
        result = effect.on(journal)


def test_the_engine_builds_the_message_outside_any_journal_transaction(tmp_path):
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as journal:
        seen = []

        def build(trace, batch):
            seen.append((trace, batch, journal.core.conn.in_transaction))
            return {**REQUEST, "11": f"{trace:06d}"}
        begun = _begin_on(journal, build)
        assert isinstance(begun, Begun)
        assert seen == [(begun.txn.trace, begun.txn.batch, False)]
        assert begun.message["11"] == f"{begun.txn.trace:06d}"


def test_the_journal_refuses_numbers_another_writer_took_and_writes_nothing(tmp_path):
    path = tmp_path / "j.db"
    with Journal.open(path, fingerprint_key=KEY) as journal, Journal.open(path, fingerprint_key=KEY) as other:
        trace, batch = journal.next_numbers()
        other.take_trace("network")
        refused = journal.begin_request("sale", trace=trace, batch=batch, message={**REQUEST, "11": f"{trace:06d}"},
                                        **begin_args())
        assert refused is None
        assert journal.find(limit=10) == []
        assert journal.next_numbers() == (trace + 1, batch)
        assert journal.verify().ok


def test_another_writer_taking_the_trace_meanwhile_makes_the_engine_build_again(tmp_path):
    path = tmp_path / "j.db"
    with Journal.open(path, fingerprint_key=KEY) as journal, Journal.open(path, fingerprint_key=KEY) as other:
        calls = []

        def build(trace, batch):
            calls.append(trace)
            if len(calls) == 1:
                other.take_trace("network")  # commits between this build and the intent commit
            return {**REQUEST, "11": f"{trace:06d}"}
        begun = _begin_on(journal, build)
        assert len(calls) == 2 and calls[1] == calls[0] + 1
        assert begun.txn.trace == calls[1]
        assert journal.messages(begun.txn.id)[0]["body"]["11"] == f"{calls[1]:06d}"
        assert journal.verify().ok


def test_a_writer_that_never_stops_taking_traces_leaves_nothing_journaled(tmp_path):
    path = tmp_path / "j.db"
    with Journal.open(path, fingerprint_key=KEY) as journal, Journal.open(path, fingerprint_key=KEY) as other:
        def build(trace, batch):
            other.take_trace("network")
            return {**REQUEST, "11": f"{trace:06d}"}
        with pytest.raises(JournalError, match="another writer kept taking trace numbers: the request was not "
                                               "journaled"):
            _begin_on(journal, build)
        assert journal.find(limit=10) == []
        assert journal.verify().ok


def test_no_message_is_built_while_the_batch_is_being_settled(tmp_path):
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as journal:
        journal.begin_settlement(journal.open_batch().number)
        built = []
        with pytest.raises(JournalError, match="being settled"):
            _begin_on(journal, lambda t, b: built.append(t) or REQUEST)
        assert built == []


def test_a_failing_build_journals_nothing(tmp_path):
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as journal:
        def build(trace, batch):
            raise ValueError("field 4: amount does not fit n12")
        with pytest.raises(ValueError, match="field 4"):
            _begin_on(journal, build)
        assert journal.find(limit=10) == []
        again = _begin_on(journal, lambda t, b: {**REQUEST, "11": f"{t:06d}"})
        assert again.txn.trace == 1  # the trace the failed build saw was never taken


# ---------------------------------------------------------------- the cheap argument check agrees with Signature.bind

@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(METHODS)), positional=st.integers(0, 4),
       keywords=st.lists(st.sampled_from(["txn_id", "reason", "error", "response", "limit", "trace", "amount",
                                          "build", "kind", "window_seconds", "batch_no", "purpose", "operator",
                                          "role", "details", "bogus"]), unique=True, max_size=6))
def test_every_call_the_port_signature_refuses_is_refused(name, positional, keywords):
    args, kwargs = tuple(range(positional)), {k: None for k in keywords}
    try:
        METHODS[name].bind(*args, **kwargs)
        valid = True
    except TypeError:
        valid = False
    if valid:
        assert getattr(ask, name)(*args, **kwargs) == Ask(name, args, kwargs)
    else:
        with pytest.raises(TypeError, match=f"journal port {name}"):
            getattr(ask, name)(*args, **kwargs)


# ---------------------------------------------------------------- fewer statements, same answers

def test_the_backlog_names_unanswered_requests_and_pending_reversals_oldest_first(tmp_path):
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as journal:
        assert journal.reversal_backlog().unanswered == () and journal.reversal_backlog().pending == ()
        first = journal.begin("sale", request=lambda t, b: REQUEST, **begin_args())
        second = journal.begin("sale", request=lambda t, b: REQUEST, **begin_args(amount=2000))
        backlog = journal.reversal_backlog()
        assert [t.id for t in backlog.unanswered] == [first.id, second.id] and backlog.pending == ()
        journal.fail(first.id, reason="98", error="no answer")
        backlog = journal.reversal_backlog()
        assert [t.id for t in backlog.unanswered] == [second.id]
        assert [r.txn_id for r in backlog.pending] == [first.id]
        journal.complete(second.id, approved=True, response_code="00", rrn="1" * 12, auth_code="A1", response=None)
        assert journal.reversal_backlog().unanswered == ()


def test_an_outcome_after_another_change_to_its_request_reads_the_row_again(tmp_path):
    """The intent commit's row is reused by the outcome only while nothing else changed it."""
    with Journal.open(tmp_path / "j.db", fingerprint_key=KEY) as journal:
        txn = journal.begin("sale", request=lambda t, b: REQUEST, **begin_args())
        journal.fail(txn.id, reason="98", error="no answer")  # sending -> in_doubt
        late = journal.complete(txn.id, approved=True, response_code="00", rrn="1" * 12, auth_code="A1",
                                response=None)  # the late answer: in_doubt -> approved is legal
        assert late.state == "approved"
        other = journal.begin("sale", request=lambda t, b: REQUEST, **begin_args(amount=3000))
        journal.complete(other.id, approved=False, response_code="05", rrn=None, auth_code=None, response=None)
        with pytest.raises(JournalError):  # declined is final: the cached "sending" row must not be used
            journal.complete(other.id, approved=True, response_code="00", rrn=None, auth_code=None, response=None)
        assert journal.verify().ok


def test_a_second_writer_changing_the_request_is_seen_by_the_outcome(tmp_path):
    path = tmp_path / "j.db"
    with Journal.open(path, fingerprint_key=KEY) as journal, Journal.open(path, fingerprint_key=KEY) as other:
        txn = journal.begin("sale", request=lambda t, b: REQUEST, **begin_args())
        other.complete(txn.id, approved=False, response_code="05", rrn=None, auth_code=None, response=None)
        with pytest.raises(JournalError, match="declined"):
            journal.complete(txn.id, approved=True, response_code="00", rrn=None, auth_code=None, response=None)
