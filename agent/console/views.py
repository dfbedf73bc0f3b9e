"""How the console prints the daemon's answers: short lines for an 80-column serial terminal.

Pure functions from the control API's JSON to text in `[terminal] language`; card numbers arrive masked
and stay so.  Tables size each column to its content, counting a Chinese character as two columns.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

from agent.console.texts import TEXTS, say
from agent.money import format_amount
from agent.engine.receipts import display_width
from agent.ui.texts import Texts as ScreenTexts
from agent.localtime import stamp as local_stamp


def stamp(epoch: float | None) -> str:
    return local_stamp(epoch)


def status(s: dict[str, Any], language: str = "en", exponent: int = 2) -> str:
    link, keys, batch, rev, journal = s["link"], s["keys"], s["batch"], s["reversals"], s["journal"]
    t = partial(say, language)
    kcv = ", ".join(f"{k.upper()} {v}" for k, v in keys["check_values"].items()) or t("st.none")
    state = t("st.down", reason=link.get("down_reason") or "?") if link.get("state") == "down" else \
        t("st.connected" if link["connected"] else "st.idle")
    switched = link.get("switched")
    if switched:  # the supervisor's switch, in the console's language
        state = t("st.switched", at=local_stamp(switched["since"], "%H:%M"))
    lines = [
        t("st.link", where=f"{link['host']}:{link['port']}", state=state, tls=" (TLS)" if link["tls"] else ""),
        *([] if link["tls"] else [t("st.no_tls")]),
        *offline_line(s.get("offline"), language, exponent),
        t("st.keys", state=t("st.installed" if keys["installed"] else "st.missing"), kcv=kcv),
        t("st.batch", number=batch["number"], state=_word(language, "batch", batch["state"]),
          count=batch["transactions"]),
        t("st.reversals", pending=rev["pending"], manual=rev["needs_manual"]),
        *([t("st.advices", pending=s["advices"]["pending"])] if s.get("advices", {}).get("pending") else []),
        t("st.journal", in_doubt=journal["in_doubt"])
        + (t("st.settling", batch=journal["settling"]) if journal["settling"] else ""),
        t("st.uptime", seconds=s.get("uptime_s", 0)),
        *([params(s["params"], language)] if s.get("params") else []),
    ]
    if journal.get("damaged"):
        lines.append(t("st.damaged", detail=journal["damaged"]))
    if keys.get("master_check_value"):
        source = keys.get("master_source") or "?"
        lines.append(t("st.master", kcv=keys["master_check_value"],
                       source=say(language, f"st.master_source.{source}") if f"st.master_source.{source}" in TEXTS
                       else source))
    fixes = (s.get("fixes") or {}).get("open") or []
    lines.append(t("st.fixes", count=len(fixes)) + (t("st.fixes_wait") if fixes else ""))
    lines += [t("st.fix", id=c["id"], trace=c["trace"], standing=c["standing"]) for c in fixes]
    if s.get("supervisor_locked_for_s"):
        lines.append(t("st.locked", seconds=s["supervisor_locked_for_s"]))
    return "\n".join(lines)


def offline_line(offline: dict[str, Any] | None, language: str, exponent: int) -> list[str]:
    """Store-and-forward's line of `status` (none while it is off): stored, amount, declined after forwarding."""
    if offline is None:
        return []
    declined = say(language, "st.offline_declined", count=offline["declined"], unseen=offline.get("unseen", 0)) \
        if offline["declined"] else ""
    lines = [say(language, "st.offline", stored=offline["stored"], amount=format_amount(offline["amount"], exponent),
                 declined=declined)]
    if offline.get("needs_manual"):
        lines.append(say(language, "st.offline_manual", count=offline["needs_manual"],
                         amount=format_amount(offline.get("needs_manual_amount", 0), exponent)))
    return lines


def offline_manual(result: dict[str, Any], exponent: int, language: str = "en") -> str:
    """`offline manual`: the stored sales the bank was never told of (their sealed card does not open)."""
    t = partial(say, language)
    items = result["needs_manual"]
    if not items:
        return t("off.manual_none")
    rows = [(t("col.id"), t("col.time"), t("col.amount"), t("col.trace"), t("col.card"), t("col.state"),
             t("col.why"))]
    for txn in items:
        rows.append((str(txn["id"]), stamp(txn["created_at"])[5:], format_amount(txn["amount"], exponent),
                     f"{txn['trace']:06d}", txn["pan_masked"] or "-", t("off.manual"), txn.get("reason") or "-"))
    return "\n".join(columns(rows, right=(0, 2)) + [t("off.manual_help")])


def offline_declined(result: dict[str, Any], exponent: int, language: str = "en") -> str:
    """`offline declined`: the stored sales the bank refused when they were forwarded, and what to do."""
    t = partial(say, language)
    declined = result["declined"]
    if not declined:
        return t("off.none")
    rows = [(t("col.id"), t("col.time"), t("col.amount"), t("col.trace"), t("col.card"), t("col.code"), t("col.seen"))]
    for txn in declined:
        rows.append((str(txn["id"]), stamp(txn["created_at"])[5:], format_amount(txn["amount"], exponent),
                     f"{txn['trace']:06d}", txn["pan_masked"] or "-", txn.get("response_code") or "-",
                     t("off.seen" if txn.get("seen") else "off.new")))
    lines = columns(rows, right=(0, 2)) + [t("off.help")]
    if result.get("acknowledged"):
        lines.append(t("off.acknowledged", count=len(result["acknowledged"])))
    return "\n".join(lines)


def journal_status(s: dict[str, Any], language: str = "en") -> str:
    """`status` from the journal file alone (the daemon is down): no link, no keys, no uptime."""
    t = partial(say, language)
    batch, rev = s["batch"], s["reversals"]
    lines = [t("st.daemon_down", settling=t("st.settling", batch=s["settling"]) if s["settling"] else ""),
             t("st.batch", number=batch["number"], state=_word(language, "batch", batch["state"]),
               count=batch["transactions"]),
             t("st.reversals", pending=rev["pending"], manual=rev["needs_manual"]),
             t("st.journal", in_doubt=s["in_doubt"])]
    if s.get("last_transaction_at"):
        lines.append(t("st.last_txn", at=stamp(s["last_transaction_at"])))
    return "\n".join(lines)


def columns(rows: Sequence[tuple[str, ...]], *, right: tuple[int, ...] = ()) -> list[str]:
    """Rows as lines, each column as wide as its widest cell in display columns (a Chinese character takes
    two); the columns in `right` are aligned right (numbers), the last column is never padded."""
    if not rows:
        return []
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for i, (cell, width) in enumerate(zip(row, widths)):
            pad = " " * (width - display_width(cell))
            if i in right:
                cells.append(pad + cell)
            else:
                cells.append(cell if i == len(row) - 1 else cell + pad)
        lines.append(" ".join(cells).rstrip())
    return lines


def _word(language: str, kind: str, value: str) -> str:
    """A transaction kind or state as the cashier screen names it in Chinese; the journal's own word in English."""
    if language != "zh":
        return value
    return ScreenTexts(language).get(f"{kind}.{value}", value)


def transactions(txns: list[dict[str, Any]], exponent: int, language: str = "en") -> str:
    """One line per transaction; the card as its last 4 digits only (export shows the rest)."""
    t = partial(say, language)
    if not txns:
        return t("no_transactions")
    rows = [(t("col.id"), t("col.time"), t("col.kind"), t("col.amount"), t("col.state"), t("col.trace"),
             t("col.card"))]
    for txn in txns:
        card = "****" + txn["pan_masked"][-4:] if txn["pan_masked"] else "-"
        rows.append((str(txn["id"]), stamp(txn["created_at"])[5:],  # MM-DD HH:MM:SS
                     _word(language, "kind", txn["kind"]), format_amount(txn["amount"], exponent),
                     _word(language, "state", txn["state"]), f"{txn['trace']:06d}", card))
    return "\n".join(columns(rows, right=(0, 3)))


def reversals(queue: dict[str, list[dict[str, Any]]], language: str = "en") -> str:
    t = partial(say, language)
    listed = [("rev.pending", r) for r in queue["pending"]] + [("rev.manual", r) for r in queue["needs_manual"]]
    if not listed:
        return t("rev.empty")
    rows = [(t("col.id"), t("col.trace"), t("col.reason"), t("col.tries"), t("col.state"), t("col.error"))]
    for state, r in listed:
        rows.append((str(r["id"]), f"{r['trace']:06d}", r["reason"] or "-", str(r["tries"]), t(state),
                     r["last_error"] or "-"))
    lines = columns(rows, right=(0, 3))
    if queue["needs_manual"]:
        lines.append(t("rev.manual_help"))
    return "\n".join(lines)


def params(p: dict[str, Any], language: str = "en") -> str:
    """The chip parameter set in force and any download staged (the status's "params" part)."""
    if not p:
        return say(language, "st.params", version="?", digest="?", source="?")
    source = say(language, f"st.params_source.{p.get('source', 'files')}")
    lines = [say(language, "st.params", version=p.get("version", "?"), digest=p.get("digest", "?"), source=source)]
    staged = p.get("staged")
    if staged:
        lines.append(say(language, "st.params_staged", detail=say(language, "st.params_staged_detail",
                                                                   id=staged["id"], keys=staged["keys"],
                                                                   aids=staged["aids"])))
    return "\n".join(lines)


def outcome(reply_outcome: dict[str, Any]) -> str:
    return str(reply_outcome.get("message") or reply_outcome.get("status", "done"))
