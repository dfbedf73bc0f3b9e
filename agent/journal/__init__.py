"""The journal: the durable, tamper-evident SQLite record of everything the terminal did.

Every request is journaled before its bytes leave the terminal and every outcome after, each in one
commit (WAL, synchronous=FULL), with a hash-chained event vouching for the rows written::

    from agent.journal import Journal
    j = Journal.open("journal.db", fingerprint_key=key)
    txn = j.begin("sale", amount=12000, currency="156", pan=pan, entry_mode="051",
                  operator="01", role="cashier", request=lambda trace, batch: masked_request)
    j.complete(txn.id, approved=True, response_code="00", rrn="123456789012", auth_code="A1B2C3",
               response=masked_response)

The engine asks through `agent.engine.port.JournalPort`; `begin_request` is `begin` returning the
built message with the transaction (`Begun`), its build run before the commit, never inside it.

Modules: `store` (open, write path, events, counters, state), `hotpath` (begin/complete/fail), `reversals`, `settlement`, `queries`,
`export`, `retention`, `schema` (file checks and migrations), `hashchain`, `states` (the transition
tables), `records` (the values handed out), `scrub` (no card data in stored messages), `cli`.
"""

from agent.journal.chains import Chain, Chains
from agent.journal.holds import Hold, Holds
from agent.journal.hotpath import HotPath
from agent.journal.errors import DuplicateRequest, IllegalTransition, JournalError, NotFound, StorageError
from agent.journal.export import Evidence, render_text, verify_bundle
from agent.journal.queries import Queries
from agent.journal.records import Batch, Recovery, Reversal, Totals, Txn, VerifyResult
from agent.journal.retention import Retention
from agent.journal.reversals import ReversalQueue
from agent.journal.settlement import Settlement
from agent.journal.store import JournalStore


class Journal(JournalStore, HotPath, ReversalQueue, Settlement, Queries, Holds, Evidence, Retention, Chains):
    """The journal API the engine, daemon and CLI use (see each mixin for its part)."""


__all__ = ["Journal", "Chain", "JournalError", "NotFound", "IllegalTransition", "DuplicateRequest", "StorageError", "Txn",
           "Reversal", "Hold", "Batch", "Totals", "Recovery", "VerifyResult", "render_text", "verify_bundle"]
