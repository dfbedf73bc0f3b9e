"""The journal's facade, `Journal` (imported as `agent.journal.Journal`): each public question declared with
the store method that answers it, over one shared storage core.  See the package's docstring."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable, Concatenate, Generic, ParamSpec, TypeVar, overload

from agent.journal.fixes import Fix, Fixes
from agent.journal.counters import Counters
from agent.journal.errors import (DuplicateRequest, IllegalTransition, JournalError, NotFound, StorageError,
                                  storage_error)
from agent.journal.events import Events
from agent.journal.export import Evidence, render_text, verify_bundle
from agent.journal.holds import Hold, Holds
from agent.journal.params import ParamSets
from agent.journal.hotpath import HotPath
from agent.journal.queries import Queries
from agent.journal.records import Batch, Recovery, Reversal, Totals, Txn, VerifyResult
from agent.journal.retention import Retention
from agent.journal.reversals import Reversals
from agent.journal.settlement import Batches
from agent.journal.tcuploads import TcUpload, TcUploads
from agent.journal import schema
from agent.journal.store import Core
from agent.journal.transactions import Transactions

log = logging.getLogger("posagent.journal")

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")


class Answer(Generic[S, P, R]):
    """One question of the journal, declared on the facade as the method of the store that answers it: the
    type checker reads its signature from that method, and the first use on a journal binds the store's
    method in the journal's own attributes, so every later call goes straight to the store."""

    def __init__(self, store: Callable[[Journal], S], method: Callable[Concatenate[S, P], R]):
        self.store = store
        self.method = method
        self.name = method.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.name:  # a question keeps its store method's name: one name per question
            raise TypeError(f"{owner.__name__}.{name} is answered by {self.method.__qualname__}: give it that name")

    @overload
    def __get__(self, journal: None, owner: type) -> Answer[S, P, R]: ...

    @overload
    def __get__(self, journal: Journal, owner: type) -> Callable[P, R]: ...

    def __get__(self, journal: Journal | None, owner: type) -> Answer[S, P, R] | Callable[P, R]:
        if journal is None:
            return self
        bound: Callable[P, R] = getattr(self.store(journal), self.name)
        vars(journal)[self.name] = bound  # the instance's attribute hides this (non-data) descriptor from now on
        return bound


class AnsweredBy(Generic[S]):
    """The questions one store answers: `_queries(Queries.get)` declares `Journal.get` as `Queries.get` on the
    journal's `queries`."""

    def __init__(self, store: Callable[[Journal], S]):
        self.store = store

    def __call__(self, method: Callable[Concatenate[S, P], R]) -> Answer[S, P, R]:
        return Answer(self.store, method)


_core = AnsweredBy(lambda journal: journal.core)
_counters = AnsweredBy(lambda journal: journal.counters)
_event_chain = AnsweredBy(lambda journal: journal.event_chain)
_hotpath = AnsweredBy(lambda journal: journal.hotpath)
_txns = AnsweredBy(lambda journal: journal.txns)
_reversals = AnsweredBy(lambda journal: journal.reversals)
_batches = AnsweredBy(lambda journal: journal.batches)
_queries = AnsweredBy(lambda journal: journal.queries)
_holds = AnsweredBy(lambda journal: journal.holds)
_tc_uploads = AnsweredBy(lambda journal: journal.tc_uploads)
_param_sets = AnsweredBy(lambda journal: journal.param_sets)
_evidence = AnsweredBy(lambda journal: journal.evidence)
_retention = AnsweredBy(lambda journal: journal.retention)
_fixes = AnsweredBy(lambda journal: journal.fixes)


class Journal:
    """The journal API the engine, daemon and CLI use: each question answered by the store that owns it
    (declared below, one `Answer` each); the stores share one `Core` and reach each other only through
    public methods."""

    def __init__(self, core: Core):
        self.core: Core = core
        self.path = core.path
        self.read_only = core.read_only
        self.counters: Counters = Counters(core)
        self.event_chain: Events = Events(core)
        self.txns: Transactions = Transactions(core)
        self.batches: Batches = Batches(core, self.txns)
        self.reversals: Reversals = Reversals(core, self.txns)
        self.queries: Queries = Queries(core, txns=self.txns, batches=self.batches)
        self.holds: Holds = Holds(core, txns=self.txns, queries=self.queries, events=self.event_chain)
        self.fixes: Fixes = Fixes(core, self.txns)
        self.tc_uploads: TcUploads = TcUploads(core)
        self.param_sets: ParamSets = ParamSets(core)
        self.evidence: Evidence = Evidence(core, self.queries)
        self.retention: Retention = Retention(core)
        self.hotpath: HotPath = HotPath(core, counters=self.counters, batches=self.batches, txns=self.txns,
                                        holds=self.holds, reversals=self.reversals, tc_uploads=self.tc_uploads)

    # -- the questions, each answered by the store that owns it
    checkpoint = _core(Core.checkpoint)
    close = _core(Core.close)
    fingerprint = _core(Core.fingerprint)

    take_trace = _counters(Counters.take_trace)
    get_state = _counters(Counters.get_state)
    set_state = _counters(Counters.set_state)

    record_event = _event_chain(Events.record_event)

    next_numbers = _hotpath(HotPath.next_numbers)
    begin = _hotpath(HotPath.begin)
    begin_request = _hotpath(HotPath.begin_request)
    complete = _hotpath(HotPath.complete)
    fail = _hotpath(HotPath.fail)

    recent_refunds_by_reference = _txns(Transactions.recent_refunds_by_reference)

    pending_reversals = _reversals(Reversals.pending_reversals)
    reversal_backlog = _reversals(Reversals.reversal_backlog)
    reversals_needing_manual_handling = _reversals(Reversals.reversals_needing_manual_handling)
    get_reversal = _reversals(Reversals.get_reversal)
    reversal_attempt = _reversals(Reversals.reversal_attempt)
    reversal_acknowledged = _reversals(Reversals.reversal_acknowledged)
    reversal_failed = _reversals(Reversals.reversal_failed)
    reversal_handled = _reversals(Reversals.reversal_handled)
    confirm_in_doubt = _reversals(Reversals.confirm_in_doubt)

    open_batch = _batches(Batches.open_batch)
    get_batch = _batches(Batches.get_batch)
    set_batch_number = _batches(Batches.set_batch_number)
    batch_totals = _batches(Batches.batch_totals)
    payment_totals = _batches(Batches.payment_totals)
    begin_settlement = _batches(Batches.begin_settlement)
    stored_owed = _batches(Batches.stored_owed)
    moved_out = _batches(Batches.moved_out)
    record_settlement_result = _batches(Batches.record_settlement_result)
    upload_pending = _batches(Batches.upload_pending)
    mark_uploaded = _batches(Batches.mark_uploaded)
    finish_settlement = _batches(Batches.finish_settlement)

    get = _queries(Queries.get)
    find = _queries(Queries.find)
    find_request = _queries(Queries.find_request)
    last_transaction = _queries(Queries.last_transaction)
    batch_size = _queries(Queries.batch_size)
    uploaded_count = _queries(Queries.uploaded_count)
    recent_sale_amounts = _queries(Queries.recent_sale_amounts)
    recent_refunds = _queries(Queries.recent_refunds)
    net_charged = _queries(Queries.net_charged)
    refundable_amount = _queries(Queries.refundable_amount)
    corrections_of = _queries(Queries.corrections_of)
    duplicates_of = _queries(Queries.duplicates_of)
    suspected_duplicates = _queries(Queries.suspected_duplicates)
    purchase = _queries(Queries.purchase)
    messages = _queries(Queries.messages)
    original_reference = _queries(Queries.original_reference)
    in_doubt = _queries(Queries.in_doubt)
    verify = _queries(Queries.verify)

    hold = _holds(Holds.hold)
    open_holds = _holds(Holds.open_holds)
    pending_advices = _holds(Holds.pending_advices)
    advice_record = _holds(Holds.advice_record)
    advice_attempt = _holds(Holds.advice_attempt)
    advice_tries = _holds(Holds.advice_tries)
    advice_failed = _holds(Holds.advice_failed)
    advice_needs_manual = _holds(Holds.advice_needs_manual)
    advices_needing_manual_handling = _holds(Holds.advices_needing_manual_handling)
    advice_handled = _holds(Holds.advice_handled)
    suspected_duplicate_holds = _holds(Holds.suspected_duplicate_holds)
    offline_refusal = _holds(Holds.offline_refusal)
    offline_stored = _holds(Holds.offline_stored)
    offline_declined = _holds(Holds.offline_declined)
    offline_declined_seen = _holds(Holds.offline_declined_seen)
    acknowledge_offline_declined = _holds(Holds.acknowledge_offline_declined)

    tc_uploads_owed = _tc_uploads(TcUploads.tc_uploads_owed)
    tc_upload_of = _tc_uploads(TcUploads.tc_upload_of)
    tc_upload_counts = _tc_uploads(TcUploads.tc_upload_counts)
    tc_upload_attempt = _tc_uploads(TcUploads.tc_upload_attempt)
    tc_upload_answered = _tc_uploads(TcUploads.tc_upload_answered)
    tc_upload_failed = _tc_uploads(TcUploads.tc_upload_failed)

    params_in_force = _param_sets(ParamSets.params_in_force)
    params_history = _param_sets(ParamSets.params_history)
    params_download_open = _param_sets(ParamSets.params_download_open)
    params_download_begin = _param_sets(ParamSets.params_download_begin)
    params_item = _param_sets(ParamSets.params_item)
    params_items = _param_sets(ParamSets.params_items)
    params_install = _param_sets(ParamSets.params_install)
    params_download_end = _param_sets(ParamSets.params_download_end)

    export = _evidence(Evidence.export)

    prune = _retention(Retention.prune)

    plan_fix = _fixes(Fixes.plan_fix)
    update_fix = _fixes(Fixes.update_fix)
    end_fix = _fixes(Fixes.end_fix)
    get_fix = _fixes(Fixes.get_fix)
    open_fixes = _fixes(Fixes.open_fixes)
    fixes_of = _fixes(Fixes.fixes_of)
    open_fix_of = _fixes(Fixes.open_fix_of)
    all_fixes = _fixes(Fixes.all_fixes)
    fix_txns = _fixes(Fixes.fix_txns)

    @classmethod
    def open(cls, path: str | Path, *, fingerprint_key: bytes | None, busy_timeout_ms: int = 5000,
             clock: Callable[[], float] = time.time, read_only: bool = False) -> "Journal":
        """Open (creating or migrating) the journal at `path`.

        The file is refused, untouched, when it is not SQLite, is damaged, is another application's
        database or has a newer schema.  `read_only` opens an existing journal for queries only (the
        CLI); it never migrates or writes.  Without a `fingerprint_key` (None) the journal serves queries
        and maintenance but refuses anything that needs a card's fingerprint.  A new journal starts with
        batch 000001 open.
        """
        core = Core.open(path, fingerprint_key=fingerprint_key, busy_timeout_ms=busy_timeout_ms, clock=clock,
                         read_only=read_only)
        journal = cls(core)
        try:
            if not read_only:
                _initialise(journal)
        except sqlite3.Error as exc:
            core.close()
            raise storage_error(exc, f"prepare journal {core.path}", core.path) from None
        except BaseException:
            core.close()
            raise
        log.info("journal %s opened%s (schema %d)", core.path, " read-only" if read_only else "",
                 schema.SCHEMA_VERSION)
        return journal

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.core.close()


def _initialise(journal: Journal) -> None:
    """A new journal's first rows: the trace counter and batch 000001, open."""
    if journal.core.conn.execute("SELECT 1 FROM batches LIMIT 1").fetchone():
        return
    with journal.core.write("create the first batch") as w:
        journal.counters.create(w)
        batch = journal.batches.create_first(w)
        w.record("batch.open", None, None, "system", {"batch": batch["number"]})

