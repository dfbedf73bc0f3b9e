"""How the console prints the daemon's answers: short lines for an 80-column serial terminal.

Pure functions from the control API's JSON to text; card numbers arrive masked and stay so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent.console.texts import say
from agent.money import format_amount


def stamp(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def status(s: dict[str, Any], language: str = "en") -> str:
    link, keys, batch, rev, journal = s["link"], s["keys"], s["batch"], s["reversals"], s["journal"]
    t = lambda key, **v: say(language, key, **v)  # noqa: E731
    kcv = ", ".join(f"{k} {v}" for k, v in keys["check_values"].items()) or t("st.none")
    lines = [
        t("st.link", where=f"{link['host']}:{link['port']}", state=t("st.connected" if link["connected"] else "st.idle"),
          tls=" (TLS)" if link["tls"] else ""),
        t("st.keys", state=t("st.installed" if keys["installed"] else "st.missing"), kcv=kcv),
        t("st.batch", number=batch["number"], state=batch["state"], count=batch["transactions"]),
        t("st.reversals", pending=rev["pending"], manual=rev["needs_manual"]),
        t("st.journal", in_doubt=journal["in_doubt"])
        + (t("st.settling", batch=journal["settling"]) if journal["settling"] else ""),
        t("st.uptime", seconds=s.get("uptime_s", 0)),
    ]
    if journal.get("damaged"):
        lines.append(f"JOURNAL DAMAGED: {journal['damaged']}")
    if keys.get("master_check_value"):
        lines.append(f"master key check value {keys['master_check_value']} ({keys.get('master_source', '?')})")
    fixes = (s.get("chains") or {}).get("open") or []
    lines.append(t("st.fixes", count=len(fixes)) + (t("st.fixes_wait") if fixes else ""))
    lines += [t("st.fix", id=c["id"], trace=c["trace"], standing=c["standing"]) for c in fixes]
    if s.get("supervisor_locked_for_s"):
        lines.append(t("st.locked", seconds=s["supervisor_locked_for_s"]))
    return "\n".join(lines)


def transactions(txns: list[dict[str, Any]], exponent: int) -> str:
    """One 80-column line per transaction; the card as its last 4 digits only (export shows the rest)."""
    if not txns:
        return "no transactions found"
    lines = [f"{'id':>5} {'time':<14} {'kind':<6} {'amount':>11} {'state':<18} {'trace':<6} card"]
    for t in txns:
        card = "****" + t["pan_masked"][-4:] if t["pan_masked"] else "-"
        when = stamp(t["created_at"])[5:]  # MM-DD HH:MM:SS
        lines.append(f"{t['id']:>5} {when:<14} {t['kind']:<6} {format_amount(t['amount'], exponent):>11} "
                     f"{t['state']:<18} {t['trace']:06d} {card}")
    return "\n".join(lines)


def reversals(queue: dict[str, list[dict[str, Any]]]) -> str:
    rows = [("pending", r) for r in queue["pending"]] + [("NEEDS MANUAL", r) for r in queue["needs_manual"]]
    if not rows:
        return "reversal queue empty"
    lines = [f"{'id':>5} {'trace':<6} {'reason':<6} {'tries':>5}  state"]
    for state, r in rows:
        lines.append(f"{r['id']:>5} {r['trace']:06d} {r['reason'] or '-':<6} {r['tries']:>5}  {state}"
                     f"{'  ' + r['last_error'] if r['last_error'] else ''}")
    if queue["needs_manual"]:
        lines.append("For each NEEDS MANUAL: ask the acquirer (give the trace) whether the card was charged; "
                     "refund if it was, then: reversals handled ID REASON")
    return "\n".join(lines)


def outcome(reply_outcome: dict[str, Any]) -> str:
    return reply_outcome.get("message") or reply_outcome.get("status", "done")
