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

No engine code runs inside a journal transaction: `begin_request` calls `build(trace, batch)` with the
numbers the journal is about to use *before* its commit, checks in the commit that they are still
the next ones (else builds again), and returns the transaction together with that message, so the
message is built once and the bytes sent are the bytes journaled.

Adding a question: one method on `JournalPort` (typed signature and a one-line docstring), its line in
`Questions`, and one method on the journal store that answers it with its line on the facade
`agent.journal.Journal` (`get = _queries(Queries.get)`), under the same name.  The type checker holds the
facade to the port (`_the_journal_answers_the_port`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Concatenate, Generator, Generic, Mapping, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:  # the port names the journal's values in its signatures only: no storage code is loaded
    import datetime as dt

    from agent.journal.chains import Chain, ChainStep
    from agent.journal.facade import Journal
    from agent.journal.holds import Hold
    from agent.journal.params import ParamDownload, ParamRecord
    from agent.journal.paytotals import PaymentTotals
    from agent.journal.records import Backlog, Batch, Begun, Recovery, Reversal, Totals, Txn
    from agent.journal.states import FixState
    from agent.journal.tcuploads import TcUpload

P = ParamSpec("P")
T = TypeVar("T")


class JournalPort(Protocol):
    """What the engine needs from storage (see the module docstring for the pattern)."""

    # -- transactions: intent and outcome
    def begin_request(self, kind: str, *, amount: int, currency: str, pan: str | None, entry_mode: str | None,
                      operator: str, role: str, original_id: int | None = None, chain_id: int | None = None,
                      client_request_id: str | None = None, build: Callable[[int, int], Any],
                      advice: bool = False, original_rrn: str | None = None,
                      original_date: str | None = None, offline_limits: Any = None,
                      original_sale: Mapping[str, Any] | None = None) -> Begun:
        """Journal a financial request before it is sent; the message is built by `build(trace, batch)`
        (an `advice`, an offline completion or offline-approved sale, starts "advice_pending", owes no reversal;
        a refund of another till's sale names it by `original_rrn` and `original_date` MMDD, not `original_id`,
        with what the back office said of it in `original_sale`: masked card, trace, terminal)."""
        ...

    def complete(self, txn_id: int, *, approved: bool, response_code: str, rrn: str | None,
                 auth_code: str | None, response: Mapping[str, Any] | None, host_time: str | None = None,
                 tc_upload: bytes | None = None, card_sequence: str | None = None) -> Txn:
        """Record a validated answer: approved or declined (with `tc_upload`, the card's TC owed from the same commit)."""
        ...

    def fail(self, txn_id: int, *, reason: str, error: str, response: Mapping[str, Any] | None = None) -> Reversal | None:
        """No valid answer: the transaction is in doubt and its reversal is queued."""
        ...

    # -- transactions: questions
    def get(self, txn_id: int) -> Txn:
        """One transaction by id."""
        ...

    def find(self, *, trace: int | None = None, rrn: str | None = None, date: str | dt.date | None = None, amount: int | None = None,
             last4: str | None = None, batch: int | None = None, kind: str | None = None,
             limit: int = 50) -> list[Txn]:
        """Transactions matching every criterion, newest first."""
        ...

    def find_request(self, client_request_id: str) -> Txn | None:
        """The transaction journaled for a client request id."""
        ...

    def refundable_amount(self, sale_id: int) -> int:
        """What is still refundable on a sale."""
        ...

    def corrections_of(self, original_id: int) -> list[Txn]:
        """The sales earlier fixes charged for the same purchase, oldest first."""
        ...

    def recent_refunds(self, original_id: int, *, window_seconds: float) -> list[Txn]:
        """Refunds of a sale journaled in the last `window_seconds`."""
        ...

    def recent_refunds_by_reference(self, rrn: str, date: str, *, window_seconds: float) -> list[Txn]:
        """Refunds of another till's sale (named by RRN and date MMDD) journaled in the last `window_seconds`."""
        ...

    def recent_sale_amounts(self, *, limit: int = 50) -> list[int]:
        """Amounts of the latest approved sales, newest first."""
        ...

    def fingerprint(self, pan: str) -> str:
        """The keyed fingerprint of a card number."""
        ...

    def duplicates_of(self, fingerprint: str, amount: int, *, window_seconds: float,
                      kinds: tuple[str, ...] = ("sale", "correction")) -> list[Txn]:
        """Sales of the same card and amount in the window."""
        ...

    def suspected_duplicates(self, *, window_seconds: float, lookback_seconds: float = 2592000,
                             kinds: tuple[str, ...] = ("sale", "correction")) -> list[list[Txn]]:
        """Groups of approved sales that look like duplicate charges."""
        ...

    def in_doubt(self) -> Recovery:
        """What is unresolved: unanswered requests, pending reversals, a settlement under way."""
        ...

    # -- reversals
    def reversal_backlog(self) -> Backlog:
        """Requests without an outcome and pending reversals: what goes out before anything else."""
        ...

    def pending_reversals(self) -> list[Reversal]:
        """Reversals waiting to be sent, oldest first."""
        ...

    def reversal_attempt(self, rev_id: int, request: Mapping[str, Any]) -> Reversal:
        """Before sending a reversal: one more try, the request stored."""
        ...

    def reversal_acknowledged(self, rev_id: int, response: Mapping[str, Any]) -> None:
        """The host acknowledged a reversal."""
        ...

    def reversal_failed(self, rev_id: int, error: str, *, max_tries: int) -> Reversal:
        """A reversal attempt got no valid answer."""
        ...

    # -- counters, events
    def take_trace(self, purpose: str, *, operator: str = "system", role: str = "system") -> int:
        """A trace number for a message that is not a journaled transaction."""
        ...

    def record_event(self, kind: str, details: dict[str, Any], *, operator: str, role: str,
                     txn_id: int | None = None) -> None:
        """An operator or system action, in the hash chain."""
        ...

    # -- batches and settlement
    def open_batch(self) -> Batch:
        """The current batch."""
        ...

    def get_batch(self, batch_no: int) -> Batch:
        """The newest batch with this number."""
        ...

    def batch_size(self, batch_no: int) -> int:
        """How many transactions a batch holds."""
        ...

    def set_batch_number(self, number: int, *, operator: str = "system", role: str = "system") -> Batch:
        """Adopt the host's batch number while the open batch is empty."""
        ...

    def batch_totals(self, batch_no: int) -> Totals:
        """Debit and credit totals of a batch."""
        ...

    def payment_totals(self, batch_no: int, *, wallet_entry_mode: str) -> PaymentTotals:
        """A batch's totals per payment type: card and payment code."""
        ...

    def begin_settlement(self, batch_no: int, *, operator: str = "system", role: str = "system") -> Batch:
        """Freeze a batch's totals (open → settling)."""
        ...

    def record_settlement_result(self, batch_no: int, *, domestic: str, foreign: str, response: Mapping[str, Any]) -> Batch:
        """Store the host's settlement verdict."""
        ...

    def upload_pending(self, batch_no: int, *, ic_only: bool) -> list[Txn]:
        """Records of a batch not yet uploaded."""
        ...

    def mark_uploaded(self, txn_id: int) -> None:
        """Flag one record as uploaded."""
        ...

    def uploaded_count(self, batch_no: int) -> int:
        """How many records of a batch are uploaded."""
        ...

    def finish_settlement(self, batch_no: int, *, operator: str = "system", role: str = "system") -> Batch:
        """settling → settled, and the next batch opens."""
        ...

    # -- pre-auth holds, advices and correction chains (agent/journal/holds.py, chains.py)
    def advice_failed(self, txn_id: int, error: str) -> None:
        """An advice try got no valid answer: it stays pending (the event keeps why)."""
        ...

    def advice_tries(self, txn_id: int) -> int:
        """How many times an advice was sent (journaled before each try)."""
        ...

    def advice_attempt(self, txn_id: int, request: Mapping[str, Any]) -> int:
        """Before sending an advice: the message stored as sent; returns how many tries came before this one."""
        ...

    # -- chip parameter sets and their staged downloads (agent/journal/params.py)
    def params_in_force(self) -> ParamRecord | None:
        """The downloaded parameter set in force, or None (the local files are)."""
        ...

    def params_download_open(self) -> ParamDownload | None:
        """The parameter download still staging (to resume), if any."""
        ...

    def params_download_begin(self, *, trigger: str, params_version: str | None, keys_version: str | None,
                              key_list: list[str], aid_list: list[str]) -> ParamDownload:
        """Stage a download of what the acquirer listed (a download still staging is abandoned)."""
        ...

    def params_item(self, download_id: int, kind: str, name: str, data: bytes) -> None:
        """Keep one downloaded entry (raw TLV) in the staging area."""
        ...

    def params_items(self, download_id: int) -> dict[str, bytes]:
        """The entries staged so far: "kind name" → TLV."""
        ...

    def params_install(self, download_id: int, *, content: Mapping[str, Any], digest: str) -> ParamRecord:
        """Make a verified set the one in force, in one commit."""
        ...

    def params_download_end(self, download_id: int, state: str, error: str) -> ParamDownload:
        """Close a download without installing it (refused or abandoned)."""
        ...

    # -- IC card TC uploads (agent/journal/tcuploads.py)
    def tc_uploads_owed(self) -> list[TcUpload]:
        """TC uploads not yet answered whose tries have not run out, oldest first."""
        ...

    def tc_upload_attempt(self, upload_id: int) -> TcUpload:
        """Before sending a TC upload: one more try."""
        ...

    def tc_upload_answered(self, upload_id: int, *, response_code: str) -> TcUpload:
        """The acquirer took the TC."""
        ...

    def tc_upload_failed(self, upload_id: int, error: str, *, max_tries: int,
                         response_code: str | None = None) -> TcUpload:
        """A try got no answer or a refusal: still owed, or undelivered once its tries are spent."""
        ...

    def chain_txns(self, chain_id: int) -> list[Txn]:
        """The transactions the chain's steps journaled (linked to its original, after it was planned)."""
        ...

    def end_chain(self, chain_id: int, state: FixState, *, reason: str | None = None, steps: list[ChainStep] | None = None, operator: str = "system", role: str = "system") -> Chain:
        """Finish a chain: ``done`` (every step approved) or ``closed`` (a supervisor's decision, with why)."""
        ...

    def get_chain(self, chain_id: int) -> Chain:
        """One chain by id."""
        ...

    def hold(self, preauth_id: int, *, validity_seconds: float) -> Hold:
        """Where one pre-auth stands (age by the journal's clock, completion, expiry)."""
        ...

    def open_chain_of(self, original_id: int) -> Chain | None:
        """"""
        ...

    def open_chains(self) -> list[Chain]:
        """Every chain still open, oldest first."""
        ...

    def open_holds(self, *, validity_seconds: float, include_expired: bool = True) -> list[Hold]:
        """Approved pre-auths neither completed nor voided, oldest first."""
        ...

    def offline_refusal(self, amount: int, limits: Any) -> str | None:
        """Why a sale of `amount` may not be stored offline under `limits` (`OfflineLimits`): "max_amount",
        "max_total", "max_count" or "max_age"; None when it fits."""
        ...

    def offline_stored(self) -> dict[str, Any]:
        """Sales stored offline and not yet forwarded: count, amount, oldest (a journal time or None)."""
        ...

    def offline_declined(self) -> list[Txn]:
        """Sales stored offline that the bank declined when they were forwarded, newest first."""
        ...

    def pending_advices(self) -> list[Txn]:
        """Offline completions and offline-approved sales whose advice is not yet acknowledged, oldest first."""
        ...

    def advice_record(self, txn_id: int) -> dict[str, Any]:
        """What an offline-approved sale journaled for its advice: the masked message and the sealed card."""
        ...

    def plan_chain(self, kind: str, original_id: int, *, steps: list[ChainStep], target: int | None, operator: str, role: str) -> Chain:
        """Journal the whole plan of a fix before its first step; refused while the original has an open one."""
        ...

    def suspected_duplicate_holds(self, *, window_seconds: float) -> list[list[Txn]]:
        """Open pre-auths of the same card and amount close in time (a stay held twice)."""
        ...

    def update_chain(self, chain_id: int, steps: list[ChainStep]) -> Chain:
        """Record each step's progress (same plan: op and amount may not change)."""
        ...


if TYPE_CHECKING:
    def _the_journal_answers_the_port(journal: Journal) -> JournalPort:
        """The type checker's proof that the facade answers every question of the port with the port's
        parameters and types (mypy checks the protocol member by member; `check_port` checks the names and
        kinds again where a journal is bound)."""
        return journal


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
    record_settlement_result = Question(JournalPort.record_settlement_result)
    upload_pending = Question(JournalPort.upload_pending)
    mark_uploaded = Question(JournalPort.mark_uploaded)
    uploaded_count = Question(JournalPort.uploaded_count)
    finish_settlement = Question(JournalPort.finish_settlement)
    advice_failed = Question(JournalPort.advice_failed)
    advice_tries = Question(JournalPort.advice_tries)
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
    chain_txns = Question(JournalPort.chain_txns)
    end_chain = Question(JournalPort.end_chain)
    get_chain = Question(JournalPort.get_chain)
    hold = Question(JournalPort.hold)
    open_chain_of = Question(JournalPort.open_chain_of)
    open_chains = Question(JournalPort.open_chains)
    open_holds = Question(JournalPort.open_holds)
    offline_refusal = Question(JournalPort.offline_refusal)
    offline_stored = Question(JournalPort.offline_stored)
    offline_declined = Question(JournalPort.offline_declined)
    pending_advices = Question(JournalPort.pending_advices)
    advice_record = Question(JournalPort.advice_record)
    plan_chain = Question(JournalPort.plan_chain)
    suspected_duplicate_holds = Question(JournalPort.suspected_duplicate_holds)
    update_chain = Question(JournalPort.update_chain)

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
