"""The operations answered at once, without an engine plan: read-only look-ups and the queues.

Each is named by its operation registry row's `handler` (`agent.registry`) and called as
``await query(daemon, args, role)`` with arguments already checked and the role already proven; it
returns the reply's `result`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from agent.daemon import background, gates, offswitch
from agent.engine import fixrun as fixrun
from agent.engine.effects import EngineError
from agent.engine.texts import say
from agent.journal import Txn
from agent.journal.states import FixState

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
    journal, keystore = daemon.journal, daemon.keystore
    recovery = journal.in_doubt()
    batch = journal.open_batch()
    age = keystore.keys_age() if keystore.has_keys else None
    return {
        "link": {"host": daemon.cfg.acquirer.host, "port": daemon.cfg.acquirer.port,
                 "connected": daemon.link.connected, "tls": daemon.cfg.acquirer.tls,
                 **_link_state(daemon)},
        "offline": _offline_status(daemon),
        "keys": {"installed": keystore.has_keys, "check_values": keystore.key_check_values(),
                 "master_check_value": getattr(keystore, "master_check_value", None),
                 "master_source": getattr(keystore, "master_source", None),
                 "age_seconds": round(age) if age is not None else None},
        "batch": {"number": batch.number, "state": batch.state,
                  "transactions": journal.batch_size(batch.number),
                  "totals": journal.payment_totals(
                      batch.number, wallet_entry_mode=daemon.wallet_entry_mode).as_dict()},
        "reversals": {"pending": len(recovery.pending_reversals), "needs_manual": len(recovery.needs_manual)},
        # offline completions and offline-approved sales whose 0220 the bank has not answered yet
        "advices": {"pending": len(journal.pending_advices())},
        "tc_uploads": journal.tc_upload_counts(),  # IC card TCs owed to the bank / out of tries
        "params": {**daemon.interpreter.cards.params.identity(),  # the chip parameter set in force
                   "staged": getattr(journal.params_download_open(), "as_dict", lambda: None)()},
        "journal": {"path": str(daemon.journal_path), "damaged": daemon.integrity_problem,
                    "in_doubt": len(recovery.unanswered) + len(recovery.in_doubt),
                    "settling": recovery.settling.number if recovery.settling else None},
        "fixes": {"open": _open_fixes(daemon)},
        "supervisor_locked_for_s": round(gates.supervisor_gate(daemon).locked_for()),
        "lockouts": gates.lockouts(daemon),
        "office": background.office_status(daemon),
        "uptime_s": round(time.time() - daemon.started_at, 1),
    }


def _link_state(daemon: Daemon) -> dict[str, Any]:
    """"down" (with why and since when, and `switched`: who switched the terminal offline by hand, if
    that is why) while the acquirer counts as unreachable, else "up" or "idle"."""
    health = daemon.interpreter.health
    if health.down and daemon.profile.offline is not None:
        return {"state": "down", "down_reason": health.down_reason, "down_since": health.down_since,
                "switched": offswitch.public(health)}
    return {"state": "up" if daemon.link.connected else "idle"}


def _offline_status(daemon: Daemon) -> dict[str, Any] | None:
    """Store-and-forward (`[offline] enabled`): the sales stored and not yet forwarded, those whose advice
    cannot be built (needing manual handling), and those the bank declined when they were; None while it is off."""
    if daemon.profile.offline is None:
        return None
    journal = daemon.journal
    stored = journal.offline_stored()
    manual = journal.advices_needing_manual_handling()  # never forwarded: not counted as stored
    return {"stored": stored["count"], "amount": stored["amount"], "oldest": stored["oldest"],
            "needs_manual": len(manual), "needs_manual_amount": sum(t["amount"] for t in manual),
            "declined": len(journal.offline_declined()),
            "unseen": len(journal.offline_declined(unseen_only=True)), "limits": daemon.profile.offline.as_dict()}


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
    journal = daemon.journal
    acknowledged = ([t.id for t in journal.acknowledge_offline_declined(operator=role, role=role)]
                    if args.get("acknowledge") else [])
    declined = journal.offline_declined()
    seen = journal.offline_declined_seen([t.id for t in declined])
    return {"declined": [{**txn.as_dict(), "seen": txn.id in seen} for txn in declined], "acknowledged": acknowledged}


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
    return await offswitch.switch(daemon, args["switch"] == "on", role, role)


async def fixes(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """Open multi-step fixes, each with where its money stands."""
    return {"open": _open_fixes(daemon)}


def _open_fixes(daemon: Daemon) -> list[dict[str, Any]]:
    """Every multi-step fix still open, with where its money stands and the action that finishes it."""
    journal = daemon.journal
    return [fixrun.summary(daemon.profile, fix, journal.get(fix.original_id), journal.fix_txns(fix.id))
            for fix in journal.open_fixes()]


async def fix_close(daemon: Daemon, args: dict[str, Any], role: str) -> dict[str, Any]:
    """The supervisor ends an open fix on purpose ("customer paid cash"); the role was checked; the reason
    is journaled."""
    fix_id, reason = args.get("id"), args.get("reason")
    if isinstance(fix_id, bool) or not isinstance(fix_id, int):
        raise EngineError("the fix id must be a whole number", code="usage")
    if not isinstance(reason, str) or not reason.strip():
        raise EngineError("closing a fix needs --reason: what was done instead (e.g. \"customer paid cash\")",
                          code="usage")
    fix = daemon.journal.get_fix(fix_id)
    language = daemon.profile.language
    if fix.state != FixState.OPEN:
        raise EngineError(say(language, "fix_not_open", id=fix_id, state=fix.state), code="not_open")
    closed = daemon.journal.end_fix(fix_id, FixState.CLOSED, reason=reason, operator="supervisor",
                                    role="supervisor")
    return {"fix": closed.as_dict(), "message": say(language, "fix_closed", id=fix_id, reason=closed.reason)}


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
    """The evidence bundle of one purchase (the console renders it as text)."""
    bundle: dict[str, Any] = daemon.journal.export(purchase_of=int(args["id"]))
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
