"""`card test`: wait for a card, show the reader, ATR, protocol and the applications it offers.

Only the application directory is read (SELECT PPSE/PSE/AIDs): no READ RECORD, so the card number
and track data never reach the console.  The test runs in the console process over PC/SC in shared
mode; the daemon holds no card connection between transactions, so the two do not collide (do not
run it while a sale is waiting for a card).
"""

from __future__ import annotations

from agent.drivers.card_errors import CardError


def run_card_test(reader_pattern: str, timeout: float, *, apdu_timeout: float = 5.0) -> str:
    from agent.drivers.emv import EmvReader
    from agent.drivers.pcsc import CardReader, PcscSession

    reader = CardReader(reader_pattern, card_timeout=timeout, apdu_timeout=apdu_timeout)
    try:
        names = reader.readers()
        if not names:
            return f"no card reader matches {reader_pattern!r} (card_reader.reader)"
        event = reader.wait_for_card(timeout)
        lines = [f"reader    {event.reader}", f"ATR       {event.atr.hex().upper()}"]
        session = PcscSession(event.reader, apdu_timeout=apdu_timeout)
        try:
            lines.append(f"protocol  {session.protocol}")
            emv = EmvReader(session, None)  # type: ignore[arg-type]  # directory only: no terminal data needed
            apps = emv.candidates()
            blocked = list(emv.blocked)
        finally:
            session.close()
    except CardError as exc:
        return f"card test failed: {exc}"
    if apps:
        lines.append("applications")
        for app in apps:
            lines.append(f"  {app.aid.hex().upper():<16} {app.label or '(no label)':<16} priority "
                         f"{app.priority or '-'}{'  asks cardholder confirmation' if app.needs_confirmation else ''}")
    else:
        lines.append("applications  none this terminal supports")
    for aid in blocked:
        lines.append(f"  {aid.hex().upper():<16} blocked")
    lines.append("card test ok: you may remove the card")
    return "\n".join(lines)
