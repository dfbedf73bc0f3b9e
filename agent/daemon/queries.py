"""The operations answered at once, without an engine plan: read-only look-ups and the queues.

Each is named by its operation registry row's `handler` (`agent.registry`) and called as
``await query(daemon, args, role)`` with arguments already checked and the role already proven; it
returns the reply's `result`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agent.engine.effects import EngineError
from agent.journal import Txn

if TYPE_CHECKING:  # the daemon calls these: its module imports the registry that names them
    from agent.daemon.service import Daemon

log = logging.getLogger("posagent.control")

#: what the technician console may journal about itself
CONSOLE_EVENTS = ("login", "login_failed", "login_locked", "logout", "idle_logout", "config_set", "log_level",
                  "reversal_handled", "advice_handled", "keys_loaded", "keys_restored", "daemon_started")


def with_payment(daemon: Daemon, txn: Txn) -> dict[str, Any]:
    """A transaction for a screen: its fields and how it was paid ("card" or "wallet", a payment code)."""
    return {**txn.as_dict(), "payment": "wallet" if daemon.wallet_settings.is_wallet(txn) else "card"}


async def status(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    return daemon.status()


async def ping(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    return {"pong": True}


async def wallet_cancel(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The cashier's CANCEL while the customer confirms on the phone."""
    return {"cancelling": daemon.wallet_cancel()}


async def reversals(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    recovery = daemon.journal.in_doubt()
    return {"pending": [r.as_dict() for r in recovery.pending_reversals],
            "needs_manual": [r.as_dict() for r in recovery.needs_manual]}


async def offline_declined(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """Store-and-forward: the stored sales the bank declined when they were forwarded (the merchant's loss),
    each with whether a supervisor has seen it; `acknowledge` (supervisor): those not seen yet are marked seen
    and named in `acknowledged`."""
    acknowledged = daemon.acknowledge_offline_declined(role) if args.get("acknowledge") else []
    return {"declined": daemon.offline_declined(), "acknowledged": acknowledged}


async def offline_manual(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """Store-and-forward: the stored sales whose advice cannot be built (their sealed card does not open), each
    with why and since when — approved offline, the bank never told."""
    return {"needs_manual": daemon.journal.advices_needing_manual_handling()}


async def offline_manual_handled(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """A supervisor marks one of them handled (journaled with who, when and the note)."""
    txn = daemon.journal.advice_handled(args["id"], note=args.get("note") or "", operator=role, role=role)
    return {"handled": txn.id, "trace": txn.trace, "amount": txn.amount}


async def offline_switch(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The supervisor switches the terminal offline by hand ("on") or back ("off"); journaled, kept across a
    restart (`agent.daemon.offswitch`)."""
    from agent.daemon import offswitch
    return await offswitch.switch(daemon, args["switch"] == "on", role, role)


async def chains(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """Open multi-step fixes, each with where its money stands."""
    return {"open": daemon.open_chains()}


async def chain_close(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The supervisor ends an open fix on purpose ("customer paid cash"); the role was checked."""
    return daemon.close_chain(args.get("id"), args.get("reason"))


async def duplicates(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    journal, window = daemon.journal, daemon.profile.duplicate_window_seconds
    return {"groups": [[t.as_dict() for t in group] for group in journal.suspected_duplicates(window_seconds=window)],
            "holds": [[t.as_dict() for t in group]
                      for group in journal.suspected_duplicate_holds(window_seconds=window)]}


async def lookup(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    found = daemon.journal.find(**{k: v for k, v in args.items()
                                   if k in ("trace", "rrn", "date", "amount", "last4", "batch", "kind", "limit")})
    return {"transactions": [with_payment(daemon, t) for t in found]}


async def receipt(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    journal = daemon.journal
    txn = journal.get(int(args["id"])) if "id" in args else journal.last_transaction()
    if txn is None:
        raise EngineError("no transaction to reprint", code="not_found")
    return {"txn": txn.as_dict(), **daemon.receipts(txn, reprint=True)}


async def reversal_handled(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    daemon.journal.reversal_handled(args["id"], note=args.get("note") or "", operator="supervisor")
    return {"handled": args["id"]}


async def reversal_retry(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    outcome = await daemon.retry_reversals()
    return {"message": outcome.message, "status": outcome.status}


async def export(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The evidence bundle of one chain (the console renders it as text)."""
    bundle: dict[str, Any] = daemon.journal.export(chain_of=int(args["id"]))
    return bundle


async def log_level(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The technician console's `log level [LEVEL]`; until the next start."""
    root = logging.getLogger()
    was = logging.getLevelName(root.level)
    if args.get("level") is not None:
        root.setLevel(args["level"])
        log.warning("log level %s -> %s (technician console)", was, args["level"])
    return {"level": logging.getLevelName(root.level), "was": was}


async def reconcile(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The statement named, read from the statements directory, reconciled against this journal; the run (or
    the refusal of an unreadable statement) is journaled with what the reconciler found, under `role`."""
    from agent.errors import UsageError
    from agent.reconcile import run as reconciling
    from agent.reconcile.statement import StatementError

    try:
        request = reconciling.Request.checked(args["statement"], fmt_name=args.get("format"),
                                              encoding=args.get("encoding"), date=args.get("date"))
        directory = reconciling.statements_directory(daemon.cfg, daemon.journal_path)
        # reading and parsing up to 64 MiB: beside the event loop, which keeps serving the keypad and the bank
        examined = await asyncio.to_thread(reconciling.examine, daemon.cfg, directory, request)
        return reconciling.conclude(daemon.journal, daemon.cfg, examined, role=role).answer()
    except StatementError as exc:
        raise EngineError(str(exc), code="statement_refused") from None
    except UsageError as exc:
        raise EngineError(str(exc), code="usage") from None


async def console_event(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The technician console's audit trail: logins, locks, setting changes."""
    if args["kind"] not in CONSOLE_EVENTS:
        raise EngineError(f"console event kind must be one of {', '.join(CONSOLE_EVENTS)}", code="usage")
    if role != "technician":  # before a login nobody is proven: the kind only, no free text
        daemon.journal.record_event(f"console.{args['kind']}", {}, operator="console (not logged in)",
                                    role="unauthenticated")
    else:
        daemon.journal.record_event(f"console.{args['kind']}", args.get("details") or {}, operator="technician",
                                    role="technician")
    return {"recorded": args["kind"]}
