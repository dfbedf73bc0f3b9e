"""The journal: the durable, tamper-evident SQLite record of everything the terminal did.

Every request is journaled before its bytes leave the terminal and every outcome after, each in one
commit (WAL, synchronous=FULL), with a hash-chained event vouching for the rows written::

    from agent.journal import Journal
    j = Journal.open("journal.db", fingerprint_key=key)
    txn = j.begin("sale", amount=12000, currency="156", pan=pan, entry_mode="051",
                  operator="01", role="cashier", request=lambda trace, batch: masked_request)
    j.complete(txn.id, approved=True, response_code="00", rrn="123456789012", auth_code="A1B2C3",
               response=masked_response)

The engine asks through `agent.engine.journalport.JournalPort`: `next_numbers`, then `begin_request` with the
message it built for them (None when another writer took them meanwhile: it builds again).

`Journal` is a facade over small stores that share one storage core (`store.Core`: the connection and
the one write path) and each own their SQL: `transactions` (rows, state changes, messages), `counters`
(trace numbers, durable state values), `events` (the hash chain), `settlement` (batches), `reversals`,
`holds` (pre-auths), `fixes` (multi-step fixes), `tc_uploads` (IC card TCs owed to the acquirer),
`param_sets` (chip parameter sets and their staged downloads), `queries`, `export`, `retention`, and `hotpath`
(begin/complete/fail, composing the others).  Also: `schema` (file checks and migrations),
`hashchain`, `states` (the transition tables and `TxnState`), `records` (the values handed out),
`scrub` (no card data in stored messages), `cli`.

The facade and its stores (`facade.py`, and SQLite with them) load when one of their names is first used:
`import agent.journal.states` (or `records`, `errors`) gives the journal's pure values without them, which
is all the engine imports.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the type checker reads the facade's names where they live; at run time `__getattr__` loads them
    from agent.journal.fixes import Fix
    from agent.journal.errors import DuplicateRequest, IllegalTransition, JournalError, NotFound, StorageError
    from agent.journal.export import render_text, verify_bundle
    from agent.journal.facade import Journal
    from agent.journal.holds import Hold
    from agent.journal.records import Batch, Recovery, Reversal, Totals, Txn, VerifyResult
    from agent.journal.tcuploads import TcUpload


def __getattr__(name: str) -> Any:
    """`agent.journal.Journal` and the other names the facade module holds, loaded when first asked for.
    A submodule's name (`schema`, `states`) is left to the import system, which loads only that module."""
    if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    facade = importlib.import_module(f"{__name__}.facade")
    try:
        value = getattr(facade, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    facade = importlib.import_module(f"{__name__}.facade")
    return sorted(set(globals()) | {name for name in vars(facade) if not name.startswith("__")})


__all__ = ["Journal", "Fix", "JournalError", "NotFound", "IllegalTransition", "DuplicateRequest", "StorageError", "Txn",
           "Reversal", "Hold", "TcUpload", "Batch", "Totals", "Recovery", "VerifyResult", "render_text", "verify_bundle"]
