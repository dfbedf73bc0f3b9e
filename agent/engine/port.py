"""The journal port: everything the engine asks of storage, one typed method per question or write.

Plans never hold the journal.  They write the call as if to the port::

    txn = yield from ask.complete(txn.id, approved=True, response_code="00", rrn=rrn, auth_code=None,
                                  response=masked(answer))

`ask` has exactly the port's questions, each a `Question` read from the port's method: it checks its
arguments against the method's signature where the plan makes the call (a misspelt question or argument
fails at that line) and returns an `Ask[T]` effect, `T` being the method's result type: plain data the
daemon's interpreter performs on the real journal and the tests' recording stub on theirs (`Ask.on(port)`;
`check_port` refuses, at start, an object that lacks one of the port's methods).  `yield from` hands the
effect up and gives the plan the answer with its type (`txn` above is a `Txn` to the type checker).

No engine code runs inside a journal transaction, and the journal calls no engine code: a plan asks for the
numbers its request will carry (`next_numbers`), builds the message itself, and asks `begin_request` to
journal it under them; the journal compares them in its commit and answers None, writing nothing, when
another writer took them meanwhile, and the plan builds again (`common.begin`).  So the message is built
before the commit, and the bytes sent are the bytes journaled.

Adding a question: one method on `JournalPort` (`agent/engine/journalport.py`: typed signature and a
one-line docstring), its line in `Questions`, and one method on the journal store that answers it with its
line on the facade `agent.journal.Journal` (`get = _queries(Queries.get)`), under the same name.  The type checker holds the
facade to the port (`_the_journal_answers_the_port`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Concatenate, Generator, Generic, Mapping, ParamSpec, TypeVar

from agent.engine.journalport import JournalPort as JournalPort  # the interpreter binds a journal as one

P = ParamSpec("P")
T = TypeVar("T")


#: the port's methods and their signatures (without `self`)
METHODS: dict[str, inspect.Signature] = {
    name: signature.replace(parameters=list(signature.parameters.values())[1:])
    for name, member in vars(JournalPort).items() if inspect.isfunction(member) and not name.startswith("_")
    for signature in (inspect.signature(member),)}


@dataclass(frozen=True)
class Ask(Generic[T]):
    """Effect: call the port's `method` with these arguments; the result, of type `T`, is its return value.

    Made by `ask` only (`ask.get(7)` is an `Ask[Txn]`).  A plan yields it and gets the result back, typed
    where it writes ``txn = yield from ask.get(7)`` (a plain ``yield`` performs the same effect)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def on(self, port: JournalPort) -> T:
        """The answer of `port` (checked against the port by `check_port` where it was bound)."""
        answer: Callable[..., T] = getattr(port, self.method)
        return answer(*self.args, **self.kwargs)

    def __iter__(self) -> Generator[Ask[T], T, T]:
        return (yield self)


class Question(Generic[P, T]):
    """One question of the port as a plan asks it: called with the port method's arguments (checked here,
    where the plan makes the call), it returns the `Ask[T]` for that call, `T` being the method's result."""

    def __init__(self, method: Callable[Concatenate[Any, P], T]):
        self.name = method.__name__
        self.signature = METHODS[self.name]
        parameters = list(self.signature.parameters.values())
        self._positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        self._keywords = frozenset(p.name for p in parameters)
        self._required = frozenset(p.name for p in parameters if p.default is p.empty)

    def __repr__(self) -> str:
        return f"<journal port question {self.name}{self.signature}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Ask[T]:
        # what Signature.bind checks, at a tenth of its cost (plans ask on every sale)
        given = self._positional[:len(args)]
        if len(args) > len(self._positional) or not self._keywords.issuperset(kwargs) or not self._required.issubset(
                (*given, *kwargs)) or not set(given).isdisjoint(kwargs):
            try:
                self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"journal port {self.name}{self.signature}: {exc}") from None
        return Ask(self.name, args, kwargs)


class Questions:
    """`ask`: one `Question` per method of the port, its arguments and result type read from the method."""

    next_numbers = Question(JournalPort.next_numbers)
    begin_request = Question(JournalPort.begin_request)
    complete = Question(JournalPort.complete)
    fail = Question(JournalPort.fail)
    get = Question(JournalPort.get)
    find = Question(JournalPort.find)
    find_request = Question(JournalPort.find_request)
    refundable_amount = Question(JournalPort.refundable_amount)
    corrections_of = Question(JournalPort.corrections_of)
    recent_refunds = Question(JournalPort.recent_refunds)
    recent_refunds_by_reference = Question(JournalPort.recent_refunds_by_reference)
    recent_sale_amounts = Question(JournalPort.recent_sale_amounts)
    fingerprint = Question(JournalPort.fingerprint)
    duplicates_of = Question(JournalPort.duplicates_of)
    suspected_duplicates = Question(JournalPort.suspected_duplicates)
    in_doubt = Question(JournalPort.in_doubt)
    reversal_backlog = Question(JournalPort.reversal_backlog)
    pending_reversals = Question(JournalPort.pending_reversals)
    reversal_attempt = Question(JournalPort.reversal_attempt)
    reversal_acknowledged = Question(JournalPort.reversal_acknowledged)
    reversal_failed = Question(JournalPort.reversal_failed)
    take_trace = Question(JournalPort.take_trace)
    record_event = Question(JournalPort.record_event)
    open_batch = Question(JournalPort.open_batch)
    get_batch = Question(JournalPort.get_batch)
    batch_size = Question(JournalPort.batch_size)
    set_batch_number = Question(JournalPort.set_batch_number)
    batch_totals = Question(JournalPort.batch_totals)
    payment_totals = Question(JournalPort.payment_totals)
    begin_settlement = Question(JournalPort.begin_settlement)
    stored_owed = Question(JournalPort.stored_owed)
    moved_out = Question(JournalPort.moved_out)
    record_settlement_result = Question(JournalPort.record_settlement_result)
    upload_pending = Question(JournalPort.upload_pending)
    mark_uploaded = Question(JournalPort.mark_uploaded)
    uploaded_count = Question(JournalPort.uploaded_count)
    finish_settlement = Question(JournalPort.finish_settlement)
    advice_failed = Question(JournalPort.advice_failed)
    advice_tries = Question(JournalPort.advice_tries)
    advice_needs_manual = Question(JournalPort.advice_needs_manual)
    advices_needing_manual_handling = Question(JournalPort.advices_needing_manual_handling)
    advice_attempt = Question(JournalPort.advice_attempt)
    params_in_force = Question(JournalPort.params_in_force)
    params_download_open = Question(JournalPort.params_download_open)
    params_download_begin = Question(JournalPort.params_download_begin)
    params_item = Question(JournalPort.params_item)
    params_items = Question(JournalPort.params_items)
    params_install = Question(JournalPort.params_install)
    params_download_end = Question(JournalPort.params_download_end)
    tc_uploads_owed = Question(JournalPort.tc_uploads_owed)
    tc_upload_attempt = Question(JournalPort.tc_upload_attempt)
    tc_upload_answered = Question(JournalPort.tc_upload_answered)
    tc_upload_failed = Question(JournalPort.tc_upload_failed)
    fix_txns = Question(JournalPort.fix_txns)
    end_fix = Question(JournalPort.end_fix)
    get_fix = Question(JournalPort.get_fix)
    hold = Question(JournalPort.hold)
    open_fix_of = Question(JournalPort.open_fix_of)
    open_fixes = Question(JournalPort.open_fixes)
    open_holds = Question(JournalPort.open_holds)
    offline_refusal = Question(JournalPort.offline_refusal)
    offline_stored = Question(JournalPort.offline_stored)
    offline_declined = Question(JournalPort.offline_declined)
    pending_advices = Question(JournalPort.pending_advices)
    advice_record = Question(JournalPort.advice_record)
    plan_fix = Question(JournalPort.plan_fix)
    suspected_duplicate_holds = Question(JournalPort.suspected_duplicate_holds)
    update_fix = Question(JournalPort.update_fix)

    def __repr__(self) -> str:
        return "<journal port questions>"


ask = Questions()
_asked = {name for name, value in vars(Questions).items() if isinstance(value, Question) and value.name == name}
if _asked != METHODS.keys():  # each method of the port is asked under its own name, and nothing else is
    raise TypeError(f"`Questions` differs from the journal port: {sorted(_asked ^ METHODS.keys())}")


def check_port(port: object) -> None:
    """Refuse, where it is bound, an object that does not answer every question of the port the way the
    port asks it: each method must take the port's parameters, by the same kind (positional/keyword);
    extra parameters are allowed only with defaults."""
    problems = []
    for name, wanted in METHODS.items():
        method = getattr(port, name, None)
        if not callable(method):
            problems.append(f"missing {name}")
            continue
        try:
            have = inspect.signature(method).parameters
        except (TypeError, ValueError):
            continue
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in have.values()):
            continue  # a pass-through (a recording stub): it forwards to something checked itself
        for parameter in wanted.parameters.values():
            got = have.get(parameter.name)
            if got is None or got.kind != parameter.kind:
                problems.append(f"{name}({parameter.name}) differs")
        for extra in have.keys() - wanted.parameters.keys():
            if have[extra].default is inspect.Parameter.empty:
                problems.append(f"{name} requires {extra}, which the port does not give")
    if problems:
        raise TypeError(f"{type(port).__name__} does not implement the journal port: {'; '.join(problems)}")
