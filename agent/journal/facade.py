"""The journal's facade, `Journal` (imported as `agent.journal.Journal`): each public question answered by the
store that owns it (`ANSWERS`), over one shared storage core.  See the package's docstring."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable

from agent.journal.chains import Chain, Chains
from agent.journal.counters import Counters
from agent.journal.errors import DuplicateRequest, IllegalTransition, JournalError, NotFound, StorageError
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
from agent.journal.store import Core, storage_error
from agent.journal.transactions import Transactions

log = logging.getLogger("posagent.journal")

#: which store answers each of the journal's public questions (the facade binds them by name)
ANSWERS: dict[str, tuple[str, ...]] = {
    "core": ("checkpoint", "close", "fingerprint"),
    "counters": ("take_trace", "get_state", "set_state"),
    "event_chain": ("record_event",),
    "hotpath": ("begin", "begin_request", "complete", "fail"),
    "txns": ("recent_refunds_by_reference",),
    "reversals": ("pending_reversals", "reversal_backlog", "reversals_needing_manual_handling", "get_reversal",
                  "reversal_attempt", "reversal_acknowledged", "reversal_failed", "reversal_handled",
                  "confirm_in_doubt"),
    "batches": ("open_batch", "get_batch", "set_batch_number", "batch_totals", "payment_totals", "begin_settlement",
                "record_settlement_result", "upload_pending", "mark_uploaded", "finish_settlement"),
    "queries": ("get", "find", "find_request", "last_transaction", "batch_size", "uploaded_count",
                "recent_sale_amounts", "recent_refunds", "net_charged", "refundable_amount", "corrections_of", "duplicates_of",
                "suspected_duplicates", "chain", "messages", "original_reference", "in_doubt", "verify"),
    "holds": ("hold", "open_holds", "pending_advices", "advice_record", "advice_attempt", "advice_tries", "advice_failed",
              "suspected_duplicate_holds", "offline_refusal", "offline_stored", "offline_declined", "offline_declined_seen",
              "acknowledge_offline_declined"),
    "tc_uploads": ("tc_uploads_owed", "tc_upload_of", "tc_upload_counts", "tc_upload_attempt", "tc_upload_answered",
                   "tc_upload_failed"),
    "param_sets": ("params_in_force", "params_history", "params_download_open", "params_download_begin",
                   "params_item", "params_items", "params_install", "params_download_end"),
    "evidence": ("export",),
    "retention": ("prune",),
    "chains": ("plan_chain", "update_chain", "end_chain", "get_chain", "open_chains", "chains_of", "open_chain_of",
               "all_chains", "chain_txns"),
}


class Journal:
    """The journal API the engine, daemon and CLI use: each question answered by the store that owns it
    (`ANSWERS`); the stores share one `Core` and reach each other only through public methods."""

    def __init__(self, core: Core):
        self.core = core
        self.path = core.path
        self.read_only = core.read_only
        self.counters = Counters(core)
        self.event_chain = Events(core)
        self.txns = Transactions(core)
        self.batches = Batches(core, self.txns)
        self.reversals = Reversals(core, self.txns)
        self.queries = Queries(core, txns=self.txns, batches=self.batches)
        self.holds = Holds(core, txns=self.txns, queries=self.queries, events=self.event_chain)
        self.chains = Chains(core, self.txns)
        self.tc_uploads = TcUploads(core)
        self.param_sets = ParamSets(core)
        self.evidence = Evidence(core, self.queries)
        self.retention = Retention(core)
        self.hotpath = HotPath(core, counters=self.counters, batches=self.batches, txns=self.txns,
                               holds=self.holds, reversals=self.reversals, tc_uploads=self.tc_uploads)
        for store, names in ANSWERS.items():
            answering = getattr(self, store)
            for name in names:
                setattr(self, name, getattr(answering, name))  # bound once: no call goes through the facade

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

