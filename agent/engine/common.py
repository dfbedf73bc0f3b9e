"""Steps every online operation shares: get ready (link, reversals first, keys), send one financial
request under the reversal-first rule, and resolve what recovery reports.

What goes out before any other online message, in this order: the reversals owed, the offline advices
owed (they hold everything else back until delivered), then the IC card TC uploads owed (evidence for
the acquirer: a TC that cannot be delivered is retried a bounded number of times and never holds back
or changes a sale)."""

from __future__ import annotations

from typing import Any, Callable, Generator, Sequence

from agent.engine.effects import (Answer, CardFailure, Connect, EngineError, Exchange, FinishCard, InstallKeys,
                                  NoAnswer, Notify, OpenSealedCard, Outcome, Plan, ReadCard, ReleaseCard,
                                  SignOnNeeded)
from agent.engine.requests import (OFFLINE_KINDS, REVERSAL_ACKNOWLEDGED, CardData, Profile, Verdict, advice_from_record,
                                   check_response, reference_request, reversal_for, tc_upload_request)
from agent.errors import PosagentError
from agent.engine.responses import NOT_PROCESSED, SIGN_ON_AGAIN, describe
from agent.engine.port import Ask, ask
from agent.engine.texts import say
from agent.iso8583 import Message
from agent.iso8583.dump import MessageJson, message_to_json
from agent.journal.errors import JournalError
from agent.journal.records import Begun, Reversal, Txn
from agent.journal.states import REVERSAL_REASONS, ReversalState  # texts: why_98, why_A0, why_06
from agent.engine.netmgmt import NetworkResponseError, build_echo, build_signon, check_network_response

Gen = Generator[Any, Any, Any]



def masked(message: Message) -> MessageJson:
    return message_to_json(message, masked=True)


#: how many times a request is built again when another writer keeps taking its trace number
BEGIN_TRIES = 3


def begin(build: Callable[[int, int], Any],
          journal: Callable[[int, int, Any], Ask[Begun | None]]) -> Generator[Any, Any, Begun]:
    """Journal a request before it is sent: ask for the trace and batch it will carry, `build(trace, batch)`
    its message, and `journal(trace, batch, message)` — the plan's `ask.begin_request` with them — which the
    journal refuses (None, nothing written) when another writer took the numbers meanwhile; then again with
    the new numbers.  The message is built here, outside any journal transaction, and journaled as built."""
    for _ in range(BEGIN_TRIES):
        trace, batch = yield from ask.next_numbers()
        message = build(trace, batch)
        begun = yield from journal(trace, batch, message)
        if begun is not None:
            return begun
    raise JournalError("another writer kept taking trace numbers: the request was not journaled; try again")


def connect(profile: Profile) -> Gen:
    """The link is up, or the operation stops here with nothing sent and nothing journaled."""
    result = yield Connect()
    if isinstance(result, NoAnswer):
        raise EngineError(say(profile.language, "offline", detail=result.detail), code="offline")


def flush_reversals(profile: Profile) -> Gen:
    """Send every pending reversal before anything else; raise if one is still owed afterwards.

    Returns (acknowledged, needs_manual): the reversals delivered now, and those whose tries ran out now
    (they stay visible as "needs manual handling" and no longer hold back other messages)."""
    backlog = yield from ask.reversal_backlog()
    pending: Sequence[Reversal] = backlog.pending
    for txn in backlog.unanswered:  # sent, but its outcome could not be journaled (disk full): reverse it first
        yield from ask.fail(txn.id, reason="98", error="no outcome could be journaled for this request")
    if backlog.unanswered:
        pending = yield from ask.pending_reversals()
    acknowledged, exhausted = [], []
    if pending:
        yield from keys_ready(profile)
    signed_on = False  # a sign-on the bank asked for (77, A0) is done once a flush, then the reversal goes again
    for reversal in pending:
        txn = yield from ask.get(reversal.txn_id)
        original = (yield from ask.get(txn.original_id)) if txn.original_id else None
        sent = yield from _journaled_request(txn)
        tries = reversal.tries
        while True:
            message = reversal_for(profile, txn, original, reason=reversal.reason or "06", repeat=tries > 0, sent=sent)
            yield Notify(say(profile.language, "reversing", trace=f"{reversal.trace:06d}"))
            yield from ask.reversal_attempt(reversal.id, request=masked(message))
            result = yield Exchange(message)
            problem = _reversal_problem(message, result, profile.language)
            if problem is None:
                break
            after = yield from ask.reversal_failed(reversal.id, problem, max_tries=profile.reversal_retries)
            tries += 1
            if after.state == ReversalState.PENDING and _answer_code(result) in SIGN_ON_AGAIN and not signed_on:
                signed_on = True  # the bank wants new working keys: sign on, then the same reversal again
                yield from sign_on(profile)
                continue
            break
        if problem is None:
            yield from ask.reversal_acknowledged(reversal.id, response=masked(result.message))
            acknowledged.append(reversal)
            continue
        if after.state == ReversalState.PENDING:
            raise EngineError(say(profile.language, "reversal_pending", trace=f"{reversal.trace:06d}",
                                  problem=problem), code="reversal_pending")
        exhausted.append(after)
    yield from flush_advices(profile)
    yield from flush_tc_uploads(profile)
    return acknowledged, exhausted


def _journaled_request(txn: Txn) -> Gen:
    """The request as journaled before it was sent (masked JSON), or None when the journal kept none."""
    try:
        return (yield from ask.advice_record(txn.id))
    except JournalError:
        return None


def flush_advices(profile: Profile) -> Gen:
    """Deliver every offline completion advice (after the reversals, before anything else): the same
    bytes again until the host answers; raise if one is still owed.  Returns the advices answered.

    A stored sale whose sealed card does not open can never be forwarded: it needs manual handling (the
    reason journaled) and the next advice goes on — a link failure or a "not processed" answer stays owed."""
    pending = yield from ask.pending_advices()
    answered = []
    signed_on = False  # a sign-on the bank asked for (77, A0) is done once a flush, then the advice goes again
    if pending:
        yield from keys_ready(profile)
    for txn in pending:
        if txn.kind in OFFLINE_KINDS:  # an offline-approved sale: rebuilt from its record and sealed card
            record = yield from ask.advice_record(txn.id)
            card = yield OpenSealedCard(record.get("sealed_card") or "", txn.amount)
            if isinstance(card, CardFailure):  # never buildable: a person settles it, the others go on
                yield from ask.advice_needs_manual(txn.id, card.message)
                yield Notify(say(profile.language, "advice_card_sealed", trace=f"{txn.trace:06d}",
                                 problem=card.message))
                continue
            message = advice_from_record(profile, txn, record, *card)
        else:
            assert txn.original_id is not None  # an offline completion names its pre-auth
            original = yield from ask.get(txn.original_id)
            message = reference_request(profile, "completion_advice", trace=txn.trace, batch=txn.batch,
                                        amount=txn.amount, original=original)
        first = message
        while True:
            if (yield from ask.advice_tries(txn.id)):  # sent before without an answer: it goes out as a repeat (0221)
                message = first.with_mti(profile.repeat_of(first.mti))
            yield Notify(say(profile.language, "sending_advice", trace=f"{txn.trace:06d}"))
            yield from ask.advice_attempt(txn.id, masked(message))
            result = yield Exchange(message)
            problem = _reversal_problem(message, result, profile.language) if isinstance(result, NoAnswer) else None
            if problem is None:
                verdict = check_response(message, result.message, mac_valid=result.mac_valid)
                problem = None if verdict.valid else verdict.problem
            code = _answer_code(result) if problem is None else None
            if code in NOT_PROCESSED:  # not the bank's word on the sale: still owed, never taken as a decline
                problem = say(profile.language, "bank_answered", code=code, meaning=describe(code, profile.language))
            if problem is None:
                break
            yield from ask.advice_failed(txn.id, problem, not_booked=code in NOT_PROCESSED)
            if code in SIGN_ON_AGAIN and not signed_on:  # the bank wants new working keys: once, then again
                signed_on = True
                yield from sign_on(profile)
                continue
            raise EngineError(say(profile.language, "advice_pending", trace=f"{txn.trace:06d}", problem=problem),
                              code="advice_pending")
        response = result.message
        code = response.get(39)
        answered.append((yield from ask.complete(txn.id, approved=code == "00", response_code=code, rrn=response.get(37), auth_code=response.get(38), response=masked(response), host_time=_host_time(response))))
    return answered


def flush_tc_uploads(profile: Profile) -> Gen:
    """Send every IC card TC upload still owed (after reversals and advices); never raises for a TC that
    is not delivered — it stays owed for the next try until its tries run out.  Returns how many the
    acquirer took now."""
    taken = 0
    try:
        for upload in (yield from ask.tc_uploads_owed()):
            txn = yield from ask.get(upload.txn_id)
            message = tc_upload_request(profile, txn, upload.icc, upload.card_sequence)
            yield Notify(say(profile.language, "sending_tc", trace=f"{txn.trace:06d}"))
            yield from ask.tc_upload_attempt(upload.id)
            result = yield Exchange(message)
            if isinstance(result, NoAnswer):
                yield from ask.tc_upload_failed(upload.id, result.detail, max_tries=profile.tc_upload_tries)
                break  # the link is down or the host silent: the others wait for the next message too
            verdict = check_response(message, result.message, mac_valid=result.mac_valid)
            code = result.message.get(39)
            if not verdict.valid or code != "00":
                problem = verdict.problem if not verdict.valid else say(
                    profile.language, "bank_answered", code=code, meaning=describe(code, profile.language))
                yield from ask.tc_upload_failed(upload.id, problem, max_tries=profile.tc_upload_tries,
                                                response_code=code if isinstance(code, str) and len(code) == 2 else None)
                continue
            yield from ask.tc_upload_answered(upload.id, response_code=code)
            taken += 1
    except PosagentError as exc:  # e.g. the journal refused a write: the TC stays owed, the sale stands
        yield Notify(say(profile.language, "tc_postponed", detail=exc))
    return taken


def _answer_code(result: Any) -> str | None:
    """Field 39 of an answer, None without one."""
    return None if isinstance(result, NoAnswer) else result.message.get(39)


def _reversal_problem(request: Message, result: Any, language: str = "en") -> str | None:
    if isinstance(result, NoAnswer):
        return result.detail
    verdict = check_response(request, result.message, mac_valid=result.mac_valid)
    if not verdict.valid:
        return verdict.problem
    code = result.message.get(39)
    if code not in REVERSAL_ACKNOWLEDGED:
        return say(language, "bank_answered", code=code, meaning=describe(code, language))
    return None


def ensure_ready(profile: Profile, *, trace_for_signon: Callable[[], Gen] | None = None) -> Gen:
    """Before any financial message: link up, reversals flushed, working keys present and fresh."""
    yield from connect(profile)
    yield from flush_reversals(profile)
    yield from keys_ready(profile)


def keys_ready(profile: Profile) -> Gen:
    """Sign on when the working keys are missing or too old.  What is owed and MAC'd (reversals, advices)
    calls this before it goes out, not after: without keys the bank cannot take them (it answers 77, sign
    on again), so the reversal-first rule yields to the one message that makes them possible."""
    if (yield SignOnNeeded()):
        yield from sign_on(profile)


def with_card(amount: int, test_card: str | None, body: Callable[[CardData], Plan], *,
              offline_ok: bool = False, keyed: bool = False) -> Plan:
    """Read the card for `amount`, run `body(card)`, and always release the card after (wiping its data);
    a plan abandoned mid-way leaves the wiping to the daemon.  `offline_ok`: the card may approve offline;
    `keyed`: the named test card as a supervisor keys it."""
    card = yield ReadCard(amount, test_card, offline_ok, keyed)
    if isinstance(card, CardFailure):
        raise EngineError(card.message, code="card")
    try:
        outcome = yield from body(card)
    except GeneratorExit:
        raise
    except Exception:
        yield ReleaseCard()
        raise
    yield ReleaseCard()
    if getattr(card, "source", None) == "chip" and getattr(getattr(outcome, "txn", None), "id", None):
        yield from _journal_chip_params(outcome.txn.id)
    return outcome


def _journal_chip_params(txn_id: int) -> Gen:
    """Which chip parameters decided a chip transaction: the downloaded set's version and digest, or the
    local files (the set only changes between operations, so the one in force now is the one used)."""
    record = yield from ask.params_in_force()
    details = ({"source": "files"} if record is None else
               {"source": "download", "version": f"{record.params_version}/{record.keys_version}",
                "digest": record.digest[:16]})
    yield from ask.record_event("chip.params", details, operator="system", role="system", txn_id=txn_id)


def sign_on(profile: Profile) -> Gen:
    signon, _ = yield from sign_on_answer(profile)
    return signon


def sign_on_answer(profile: Profile) -> Gen:
    """Sign on; returns the sign-on result and the acquirer's answer (which may announce new chip
    parameters: agent/engine/params.py reads it)."""
    yield from connect(profile)
    batch = yield from ask.open_batch()
    trace = yield from ask.take_trace("network")
    request = build_signon(profile.as_config(), trace, batch=f"{batch.number:06d}")
    yield Notify(say(profile.language, "signing_on"))
    result = yield Exchange(request)
    if isinstance(result, NoAnswer):
        raise EngineError(say(profile.language, "signon_failed", detail=result.detail), code="signon_failed")
    signon = yield InstallKeys(request, result.message)
    host_batch = int(signon.batch_number)
    if host_batch and host_batch != batch.number:
        count = yield from ask.batch_size(batch.number)
        if count == 0:  # the host numbers batches; a batch that already holds sales keeps its number
            yield from ask.set_batch_number(host_batch)
    yield from ask.record_event("signon", {"batch": signon.batch_number, "kcv": signon.key_check_values},
                                operator="system", role="system")
    return signon, result.message


def send_financial(profile: Profile, txn: Txn, request: Message, *, operation: str,
                   chip: bool = False) -> Gen:
    """Exchange a journaled request and record its outcome; on any failure reverse it.

    Returns the updated Txn with the outcome status: "approved", "declined" or "reversed"/"in_doubt".
    """
    result = yield Exchange(request)
    verdict = Verdict(False, "98", result.detail) if isinstance(result, NoAnswer) else \
        check_response(request, result.message, mac_valid=result.mac_valid)
    response = result.message if isinstance(result, Answer) else None
    tc_upload = None
    if verdict.valid and chip and response is not None:
        approved = response.get(39) == "00"
        issuer_data = _issuer_data(response)
        card = yield FinishCard(approved, issuer_data)
        if approved and card != "TC":
            why = card.message if hasattr(card, "message") else "the card declined after the bank approved"
            verdict = Verdict(False, "06", why)
        elif approved:
            tc_upload = getattr(card, "field55", None)  # a chip card's TC, owed to the acquirer
    if not verdict.valid:
        yield from ask.fail(txn.id, reason=verdict.reason, error=verdict.problem,
                            response=masked(response) if response is not None else None)
        return (yield from reverse_now(profile, txn, verdict, operation))
    code = response.text(39) if response is not None else None
    assert response is not None and code is not None  # a valid verdict: an answer with a response code
    approved = code == "00"
    sequence = request.get(23)
    updated = yield from ask.complete(txn.id, approved=approved, response_code=code, rrn=response.text(37),
                                      auth_code=response.text(38), response=masked(response),
                                      host_time=_host_time(response), tc_upload=tc_upload if approved else None,
                                      card_sequence=sequence if tc_upload is not None and isinstance(sequence, str) else None)
    if approved and tc_upload is not None:  # the sale is journaled: its TC goes now, or before the next message
        yield from flush_tc_uploads(profile)
    return updated, ("approved" if approved else "declined"), describe(code, profile.language)


def reverse_now(profile: Profile, txn: Txn, verdict: Verdict, operation: str) -> Gen:
    """Try to deliver the reversal at once; if it cannot be, it stays queued (sent before anything else)."""
    language = profile.language
    why = say(language, f"why_{verdict.reason}") if verdict.reason in REVERSAL_REASONS else verdict.problem
    name = say(language, f"op_{operation}")
    try:
        yield from flush_reversals(profile)
    except EngineError:
        updated = yield from ask.get(txn.id)
        return updated, "in_doubt", say(language, "not_completed", operation=name, why=why)
    updated = yield from ask.get(txn.id)
    return updated, "reversed", say(language, "cancelled", operation=name, why=why)


def _issuer_data(response: Message) -> bytes | None:
    """The issuer's chip data from the answer's field 55 (tag 91, scripts 71/72), as TLV bytes."""
    data = response.get(55)
    return data if isinstance(data, bytes) and data else None


def _host_time(response: Message) -> str | None:
    date, time = response.get(13), response.get(12)
    return f"{date}{time}" if isinstance(date, str) and isinstance(time, str) else None


def echo(profile: Profile) -> Gen:
    """Link test (0820, 60.3 = 301): the host answers, nothing else happens.  Like any online message it
    goes after what is owed (reversals, advices, TC uploads): an advice that cannot be delivered stops it."""
    yield from connect(profile)
    yield from flush_reversals(profile)
    batch = yield from ask.open_batch()
    trace = yield from ask.take_trace("network")
    request = build_echo(profile.as_config(), trace, batch=f"{batch.number:06d}")
    result = yield Exchange(request)
    if isinstance(result, NoAnswer):
        raise EngineError(say(profile.language, "echo_failed", detail=result.detail), code="offline")
    try:
        check_network_response(request, result.message)
    except NetworkResponseError as exc:
        raise EngineError(say(profile.language, "echo_failed", detail=exc), code="bad_answer") from None
    return Outcome("echo", "done", say(profile.language, "echo_ok"), details={"trace": trace})
