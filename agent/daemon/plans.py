"""The plan of each engine operation, built from its checked arguments: named by the operation
registry's `handler` (`agent.registry`), called as ``build(daemon, args, operator)``.

Thin: each turns the control API's arguments into the engine's request value and hands back the
engine's plan (a generator the interpreter runs); the business rules are the engine's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.engine import common, fixes, params, purchases, routes, settlement
from agent.engine.card import sale as card_sale
from agent.engine.preauth import plans as hold
from agent.engine.effects import Outcome, Plan
from agent.engine.purchases import Operator
from agent.engine.params import DownloadRequest
from agent.engine.texts import say
from agent.engine.wallet.plans import WalletSaleRequest, wallet_sale as _wallet_sale
from agent.engine.wallet.fixes import WalletCorrectRequest, wallet_correct as _wallet_correct

if TYPE_CHECKING:  # the daemon calls these: its module imports the registry that names them
    from agent.daemon.service import Daemon


def sale(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return card_sale.sale(daemon.profile, card_sale.SaleRequest(
        amount=a["amount"], test_card=a.get("card"), confirm_duplicate=bool(a.get("confirm_duplicate")),
        confirm_unusual=bool(a.get("confirm_unusual")), client_request_id=a.get("client_request_id"),
        keyed=bool(a.get("keyed"))), who)


def wallet_sale(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    """Payment-code sale: the code from the CLI / keypad (`code`), else from the scanner."""
    return _wallet_sale(daemon.profile, daemon.wallet_settings, WalletSaleRequest(
        amount=a["amount"], code=a.get("code"), confirm_duplicate=bool(a.get("confirm_duplicate")),
        confirm_unusual=bool(a.get("confirm_unusual")), client_request_id=a.get("client_request_id")), who,
        scan_timeout=daemon.scan_timeout)


def void(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return purchases.void(daemon.profile, purchases.VoidRequest(a["trace"]), who)


def refund(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return purchases.refund(daemon.profile, purchases.RefundRequest(
        trace=a.get("trace"), rrn=a.get("rrn"), date=a.get("date"), amount=a.get("amount"),
        client_request_id=a.get("client_request_id"), confirm_repeat=bool(a.get("confirm_repeat")),
        office_unreachable=daemon.cfg.refunds.office_unreachable if daemon.cfg.office.url else None), who)


def correct(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return routes.correct_any(daemon.profile, fixes.CorrectRequest(
        trace=a["trace"], right_amount=a.get("amount"), method=a.get("method", "auto"), test_card=a.get("card"),
        resume=bool(a.get("resume"))), who)


def wallet_correct(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return _wallet_correct(daemon.profile, daemon.wallet_settings, WalletCorrectRequest(
        trace=a["trace"], right_amount=a["amount"], code=a.get("code")), who, scan_timeout=daemon.scan_timeout)


def duplicates_fix(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return routes.fix_duplicate_any(daemon.profile, fixes.DuplicateFixRequest(a["id"]), who)


def settle(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    """Settlement; the wallet's entry mode tells payment-code sales from card sales in the totals shown."""
    return settlement.settle(daemon.profile, settlement.SettleRequest(
        bool(a.get("confirm")), bool(a.get("confirm_open_fixes")), bool(a.get("confirm_stored")),
        wallet_entry_mode=daemon.wallet_entry_mode), who)


def preauth(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return hold.preauth(daemon.profile, hold.PreauthRequest(
        amount=a["amount"], test_card=a.get("card"), confirm_duplicate=bool(a.get("confirm_duplicate")),
        confirm_unusual=bool(a.get("confirm_unusual")), client_request_id=a.get("client_request_id")), who)


def preauth_void(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return hold.preauth_void(daemon.profile, hold.HoldRef(a["trace"]), who)


def preauth_release(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return hold.release(daemon.profile, hold.HoldRef(a["trace"]), who)


def preauth_complete(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return hold.complete(daemon.profile, hold.CompleteRequest(a["trace"], a["amount"], advice=bool(a.get("advice"))),
                         who)


def completion_void(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return hold.completion_void(daemon.profile, hold.CompletionRef(a["trace"]), who)


def preauth_list(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return hold.list_holds(daemon.profile)


def _params_request(daemon: Daemon, trigger: str) -> DownloadRequest | None:
    """What a chip parameter download needs: the dialect's messages, the local files' set, today."""
    import datetime as dt

    spec = daemon.dialect.param_download
    cards = daemon.interpreter.cards
    return None if spec is None else DownloadRequest(spec, cards.files_params(), dt.date.today(), trigger)


def signon(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    """Sign on; chip parameters or CA keys the answer announces as newer are downloaded now."""
    result, download, problem = yield from params.sign_on(daemon.profile, _params_request(daemon, "signon"))
    daemon.interpreter.cards.use_params(daemon.journal.params_in_force())
    text = say(daemon.profile.language, "signed_on", batch=result.batch_number,
               kcv=", ".join(f"{k.upper()} {v}" for k, v in result.key_check_values.items()))
    details = {"batch": result.batch_number, "key_check_values": result.key_check_values}
    if download is not None:
        text, details["params"] = f"{text}; {download.message}", dict(download.details)
    if problem is not None:
        text, details["params_problem"] = f"{text}; {problem}", problem
    return Outcome("signon", "done", text, details=details)


def params_download(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    """The technician's (or the schedule's) chip parameter download; the set in force changes only here,
    under the operation lock, between transactions."""
    request = _params_request(daemon, a.get("trigger", "technician"))  # "schedule" from the daemon's own check
    if request is None:
        return Outcome("params_download", "done", say(daemon.profile.language, "no_param_download"),
                       details=daemon.interpreter.cards.params.identity())
    try:
        outcome: Outcome = yield from params.download(daemon.profile, request)
    finally:
        daemon.interpreter.cards.use_params(daemon.journal.params_in_force())
    return outcome


def echo(daemon: Daemon, a: dict[str, Any], who: Operator) -> Plan:
    return common.echo(daemon.profile)
