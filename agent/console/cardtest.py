"""`card test`: wait for a card, show the reader, ATR, protocol and the applications it offers.

Only the application directory is read (SELECT PPSE/PSE/AIDs): no READ RECORD, so the card number
and track data never reach the console.  The test runs in the console process over PC/SC in shared
mode; the daemon holds no card connection between transactions, so the two do not collide (do not
run it while a sale is waiting for a card).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from agent.console.texts import say
from agent.console.views import columns
from agent.emv.card_errors import CardError

if TYPE_CHECKING:
    from agent.emv.flow import Application


def run_card_test(reader_pattern: str, timeout: float, *, apdu_timeout: float = 5.0, language: str = "en") -> str:
    from agent.emv.flow import EmvReader
    from agent.drivers.pcsc import CardReader, PcscSession

    reader = CardReader(reader_pattern, card_timeout=timeout, apdu_timeout=apdu_timeout)
    try:
        names = reader.readers()
        if not names:
            return say(language, "ct.no_reader", pattern=reader_pattern)
        event = reader.wait_for_card(timeout)
        session = PcscSession(event.reader, apdu_timeout=apdu_timeout)
        try:
            protocol = session.protocol
            emv = EmvReader(session, None)  # type: ignore[arg-type]  # directory only: no terminal data needed
            apps = emv.candidates()
            blocked = list(emv.blocked)
        finally:
            session.close()
    except CardError as exc:
        from agent.daemon.cards import card_text

        return say(language, "ct.failed", detail=str(exc) if language == "en" else card_text(language, exc))
    return render(event.reader, event.atr, protocol, apps, blocked, language)


def render(reader: str, atr: bytes, protocol: str | None, apps: list[Application], blocked: list[bytes],
           language: str = "en") -> str:
    """What the card showed, as a short report: reader, ATR, protocol, then one row per application."""
    t = partial(say, language)
    lines = [t("ct.reader", reader=reader), t("ct.atr", atr=atr.hex().upper()), t("ct.protocol", protocol=protocol or "?")]
    if apps:
        lines.append(t("ct.applications"))
        rows = [(app.aid.hex().upper(), app.label or t("ct.no_label"), t("ct.priority", priority=app.priority or "-"),
                 t("ct.confirmation") if app.needs_confirmation else "") for app in apps]
        rows += [(aid.hex().upper(), t("ct.blocked"), "", "") for aid in blocked]
        lines += ["  " + line for line in columns(rows)]
    else:
        lines.append(t("ct.none"))
        lines += ["  " + line for line in columns([(aid.hex().upper(), t("ct.blocked")) for aid in blocked])]
    lines.append(t("ct.ok"))
    return "\n".join(lines)
