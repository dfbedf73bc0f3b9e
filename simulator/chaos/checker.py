"""The campaign's checker: what the bank's ledger says against what the journal records, after the
faults have stopped and every pending reversal has been retried.

Rules (each violation names one):
  net_charge      per card, per wallet payer and per terminal, the ledger's net charge equals the journal's
                  completed operations (approved sales, corrections and completions not voided or reversed,
                  minus approved refunds); a payment-code sale counts for the payer the bank's order names
  holds           per card, what the ledger holds (open pre-auths) equals the journal's open holds
  unresolved      nothing is left in doubt: no unanswered request, pending or manual reversal, open settlement,
                  and no wallet order still "paying" at the bank (the terminal must have cancelled it)
  trace_reused    no two transactions share a trace number; the host never saw a trace twice (code 94)
  batch_reused    no batch number appears twice in the journal or is settled twice at the host
  batch_balance   every settled batch: frozen totals = the journal's rows = the host's totals for it
  hash_chain      `journal verify` is ok
  fix             a multi-step fix (correction, duplicate repair) agrees with its transactions: a step
                  recorded done has an approved transaction, a fix ended "done" has every step done.
                  An open fix is not a violation (it is reported with what is still owed); the
                  ledger check above covers what its done steps charged or refunded
  card_data       no test PAN or track data, and no payment code issued to a customer, in the database, its
                  WAL, the logs or an export (byte scan)
  forwarded       store-and-forward: every sale the daemon said it stored is in the journal (none lost to a
                  SIGKILL or a power cut), and every stored sale reached the bank exactly once as an advice
                  (0220/0221, one ledger row for its batch and trace) with the outcome the journal records —
                  approved and charged, or declined and listed by `posagent offline declined`
  offline_limit   (checked by the campaign after every step) the sales stored offline never exceed the limits

The byte scan of the `card_data` rule is `simulator.chaos.diskscan`; a violation's shape is
`simulator.chaos.violation`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from agent.engine.fixrun import progress
from agent.journal import Journal
from agent.journal.duplicates import group_duplicates
from agent.journal.records import Txn, txn_from_row
from agent.journal.transactions import TXN_SELECT
from simulator.chaos.diskscan import scan_for_card_data, scan_for_codes
from simulator.chaos.violation import Violation, journal_row, ledger_row
from simulator.host.ledger import Ledger

COMPLETED_SALE_STATES = ("approved", "refunded_partially", "refunded")
CHARGING_KINDS = ("sale", "correction", "completion")


@dataclass(frozen=True)
class CheckResult:
    violations: tuple[Violation, ...]
    transactions: int
    cards_checked: int
    settled_batches: int
    files_scanned: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def journal_transactions(path: Path) -> list[Txn]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [txn_from_row(r) for r in conn.execute(TXN_SELECT + " ORDER BY t.id")]
    finally:
        conn.close()


def ledger_rows(path: Path, tid: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM txns WHERE tid = ? ORDER BY id", (tid,)).fetchall()
    finally:
        conn.close()


def journal_net(txns: list[Txn], key: Callable[[Txn], str] = lambda t: str(t.pan_masked)) -> dict[str, int]:
    """Net charge per card (`key`: masked card, or the wallet payer) as the journal records it: completed
    operations only."""
    by_id = {t.id: t for t in txns}
    net: dict[str, int] = defaultdict(int)
    for t in txns:
        if t.kind in CHARGING_KINDS and t.state in COMPLETED_SALE_STATES:
            net[key(t)] += t.amount
        elif t.kind == "refund" and t.state == "approved":
            original = by_id.get(t.original_id) if t.original_id is not None else None
            net[key(original) if original else key(t)] -= t.amount
    return {card: amount for card, amount in net.items() if amount}


def host_key(card: str | None, masked_pan: str | None) -> str:
    """How the bank's ledger names who paid: `wallet:PAYER` for a wallet payer, else the masked card."""
    return card if card is not None and card.startswith("wallet:") else str(masked_pan)


def wallet_payers(ledger_path: Path, tid: str, host_rows: list[sqlite3.Row]) -> dict[tuple[str, str], str]:
    """(batch, trace) of every payment-code order this terminal sent → `wallet:PAYER` (the bank's orders,
    and its ledger rows for orders paid at once)."""
    payers = {(r["batch"], r["stan"]): r["card"] for r in host_rows if (r["card"] or "").startswith("wallet:")}
    conn = sqlite3.connect(f"{ledger_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT batch, stan, payer FROM wallet_orders WHERE tid = ?", (tid,)).fetchall()
    except sqlite3.OperationalError:  # a ledger without wallet tables
        rows = []
    finally:
        conn.close()
    for batch, stan, payer in rows:
        payers.setdefault((batch, stan), f"wallet:{payer}")
    return payers


def paying_orders(ledger_path: Path, tid: str) -> list[str]:
    """Wallet orders the bank still holds as "paying" (the customer never confirmed, nobody cancelled)."""
    conn = sqlite3.connect(f"{ledger_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT batch, stan, payer, amount, created_at FROM wallet_orders "
                            "WHERE tid = ? AND state = 'paying'", (tid,)).fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        conn.close()
    return [f"batch={b} stan={s} payer={p} amount={a} since={c}" for b, s, p, a, c in rows]


def _wallet_entry_mode(directory: Path) -> str:
    """Field 22 that marks a payment-code sale in the journal, from the configuration beside it."""
    from agent import config
    path = directory / "posagent.toml"
    try:
        return config.load(str(path)).wallet.entry_mode if path.exists() else "032"
    except Exception:  # noqa: BLE001 — the default, as the daemon would use
        return "032"


def check(directory: Path, *, terminal_id: str = "10000001", scan: bool = True,
          codes: Iterable[str] = (), stored: Iterable[tuple[int, int]] = ()) -> CheckResult:
    """Check one terminal's journal in `directory` against the host ledger beside it (`codes`: the
    payment codes issued to customers, none of which may be on the terminal's disk; `stored`: (batch, trace)
    of the sales the daemon said it stored offline)."""
    journal_path, ledger_path = directory / "journal.db", directory / "host-ledger.db"
    violations: list[Violation] = []
    txns = journal_transactions(journal_path)
    host_rows = ledger_rows(ledger_path, terminal_id)
    payers = wallet_payers(ledger_path, terminal_id, host_rows)
    wallet_mode = _wallet_entry_mode(directory)

    def key(t: Txn) -> str:  # who paid: the wallet payer of a payment-code sale, else the masked card
        if t.entry_mode == wallet_mode:
            return payers.get((f"{t.batch:06d}", f"{t.trace:06d}"), f"wallet:? {t.pan_masked}")
        return str(t.pan_masked)  # as `host_key` names a card

    ledger = Ledger(ledger_path)
    try:
        report = ledger.net_report(terminal_id)
        host_net = {host_key(name, c["masked_pan"]): c["net_charged"] for name, c in report["cards"].items()
                    if c["net_charged"]}
        terminal_net = report["terminals"].get(terminal_id, {}).get("net_charged", 0)
        ours = journal_net(txns, key)
        for card in sorted(set(host_net) | set(ours)):
            if host_net.get(card, 0) != ours.get(card, 0):
                violations.append(Violation(
                    "net_charge", f"card {card}: the bank charged {host_net.get(card, 0)}, the journal records "
                                  f"{ours.get(card, 0)} as completed",
                    tuple(journal_row(t) for t in txns if key(t) == card),
                    tuple(ledger_row(r) for r in host_rows if host_key(r["card"], r["masked_pan"]) == card)))
        if terminal_net != sum(ours.values()):
            violations.append(Violation("net_charge", f"terminal {terminal_id}: the bank charged {terminal_net}, "
                                                      f"the journal records {sum(ours.values())}"))
        _check_holds(ledger, journal_path, terminal_id, txns, host_rows, violations)
        settled = _check_batches(directory, terminal_id, ledger, violations)
    finally:
        ledger.close()

    _check_traces(txns, host_rows, violations)
    _check_forwarded(journal_path, txns, host_rows, stored, violations)
    journal = Journal.open(journal_path, fingerprint_key=None, read_only=True)
    try:
        recovery = journal.in_doubt()
        if not recovery.clean:
            violations.append(Violation(
                "unresolved", f"still in doubt after the faults stopped: {len(recovery.unanswered)} unanswered, "
                              f"{len(recovery.in_doubt)} in doubt, {len(recovery.pending_reversals)} reversals "
                              f"pending, {len(recovery.needs_manual)} needing manual handling, settling batch "
                              f"{recovery.settling.number if recovery.settling else None}",
                tuple(journal_row(t) for t in recovery.unanswered + recovery.in_doubt)))
        paying = paying_orders(ledger_path, terminal_id)
        if paying:
            violations.append(Violation("unresolved", f"{len(paying)} wallet order(s) still paying at the bank "
                                                      f"after recovery: the terminal never cancelled them", (),
                                        tuple(paying)))
        verified = journal.verify()
        if not verified.ok:
            violations.append(Violation("hash_chain", f"journal verify failed at event {verified.first_broken}: "
                                                      f"{verified.why}"))
        export_text = json.dumps(journal.export(purchase_of=txns[-1].id)) if txns else ""
        listed = {t.id for t in journal.offline_declined()}  # what `posagent offline declined` shows the merchant
        declined = {i for i, state in _stored_sales(journal_path).items() if state == "declined"}
        if listed != declined:
            violations.append(Violation("forwarded", f"stored sales declined by the bank {sorted(declined)} but "
                                                     f"`offline declined` lists {sorted(listed)}"))
        open_fixes, fix_count = _check_fixes(journal, violations)
        window = _duplicate_window(directory)
        duplicates = len(group_duplicates(txns, window)) if window else None
    finally:
        journal.close()

    files: list[Path] = []
    if scan:
        export_file = directory / "last-purchase-export.json"
        export_file.write_text(export_text, encoding="utf-8")
        files = [p for p in sorted(directory.iterdir()) if p.is_file() and (
            p.name.startswith("journal.db") or p.name.startswith("agent.log") or p.name.endswith(".json"))]
        violations += scan_for_card_data(files) + scan_for_codes(files, codes)
    return CheckResult(tuple(violations), len(txns), len(set(host_net) | set(ours)), settled, len(files),
                       {"bank_net": host_net, "journal_net": ours, "fixes": fix_count, "open_fixes": open_fixes,
                        "suspected_duplicates": duplicates})


def _check_fixes(journal: Journal, violations: list[Violation]) -> tuple[list[dict[str, Any]], int]:
    """Every fix's recorded progress against its transactions; returns the open ones (what is owed)."""
    open_fixes = []
    every = journal.all_fixes()
    for fix in every:
        txns = journal.fix_txns(fix.id)
        derived = progress(fix, txns)
        rows = tuple(journal_row(t) for t in txns)
        for n, (recorded, actual) in enumerate(zip(fix.steps, derived), 1):
            if recorded.get("status") == "done" and actual.status != "done":
                violations.append(Violation("fix", f"fix {fix.id} step {n} ({recorded['op']} "
                                                     f"{recorded['amount']}) is recorded done but its transactions "
                                                     f"say {actual.status}", rows))
        if fix.state == "done" and any(s.status != "done" for s in derived):
            violations.append(Violation("fix", f"fix {fix.id} is done but owes "
                                                 f"{[s.as_step() for s in derived if s.status != 'done']}", rows))
        if fix.state == "open":
            open_fixes.append({"id": fix.id, "kind": fix.kind, "original_id": fix.original_id,
                               "owed": [s.as_step() for s in derived if s.status != "done"]})
    return open_fixes, len(every)


def _duplicate_window(directory: Path) -> int | None:
    """The terminal's duplicate window, from the configuration beside the journal (None: not known)."""
    from agent import config
    path = directory / "posagent.toml"
    if not path.exists():
        return None
    try:
        window: int | None = config.load(str(path)).guards.duplicate_window_seconds
        return window
    except Exception:  # noqa: BLE001 — a count for the report only
        return None


def _check_holds(ledger: Ledger, journal_path: Path, tid: str, txns: list[Txn], host_rows: list[sqlite3.Row],
                 violations: list[Violation]) -> None:
    """Open holds per masked card: the bank's (pre-auths neither voided, completed nor expired) and the
    journal's (approved pre-auths without a live completion)."""
    from datetime import datetime, timezone

    from simulator.host.holds import open_holds

    bank: dict[str, int] = defaultdict(int)
    for hold in open_holds(ledger, datetime.now(timezone.utc), tid):
        if not hold["expired"]:
            bank[str(hold["masked_pan"])] += hold["amount"]  # named as `host_key` names a card
    journal = Journal.open(journal_path, fingerprint_key=None, read_only=True)
    try:
        ours: dict[str, int] = defaultdict(int)
        for held in journal.open_holds(validity_seconds=30 * 86400):
            ours[str(held.txn.pan_masked)] += held.blocked
    finally:
        journal.close()
    for card in sorted(set(bank) | set(ours)):
        if bank.get(card, 0) != ours.get(card, 0):
            violations.append(Violation(
                "holds", f"card {card}: the bank holds {bank.get(card, 0)}, the journal's open pre-auths hold "
                         f"{ours.get(card, 0)}",
                tuple(journal_row(t) for t in txns if t.pan_masked == card and t.kind.startswith(("preauth", "compl"))),
                tuple(ledger_row(r) for r in host_rows if r["masked_pan"] == card and r["kind"] == "preauth")))


def _stored_sales(journal_path: Path) -> dict[int, str]:
    """Journal id → state of every sale approved offline and stored for an advice (its request is a 0220)."""
    conn = sqlite3.connect(f"{journal_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT id, state FROM transactions WHERE kind = 'sale' "
                                 "AND json_extract(request, '$.mti') IN ('0220', '0221')").fetchall())
    finally:
        conn.close()


def _check_forwarded(journal_path: Path, txns: list[Txn], host_rows: list[sqlite3.Row],
                     stored: Iterable[tuple[int, int]], violations: list[Violation]) -> None:
    by_place = {(t.batch, t.trace): t for t in txns}
    lost = [place for place in stored if place not in by_place]
    if lost:
        violations.append(Violation("forwarded", f"{len(lost)} sale(s) the daemon said it stored offline are not in "
                                                 f"the journal: (batch, trace) {lost[:10]}"))
    at_bank = {(r["batch"], r["stan"]): r for r in host_rows}
    for txn_id, state in _stored_sales(journal_path).items():
        t = next(x for x in txns if x.id == txn_id)
        row = at_bank.get((f"{t.batch:06d}", f"{t.trace:06d}"))
        if state == "advice_pending":
            violations.append(Violation("forwarded", f"stored sale trace {t.trace:06d} was never forwarded",
                                        (journal_row(t),)))
        elif row is None or row["mti"] not in ("0220", "0221"):
            violations.append(Violation("forwarded", f"stored sale trace {t.trace:06d} is {state} in the journal "
                                                     "but the bank has no advice for it", (journal_row(t),),
                                        (ledger_row(row),) if row is not None else ()))
        elif (row["response_code"] == "00") != (state != "declined"):
            violations.append(Violation("forwarded", f"stored sale trace {t.trace:06d}: the bank answered "
                                                     f"{row['response_code']}, the journal says {state}",
                                        (journal_row(t),), (ledger_row(row),)))


def _check_traces(txns: list[Txn], host_rows: list[sqlite3.Row], violations: list[Violation]) -> None:
    by_trace: dict[int, list[Txn]] = defaultdict(list)
    for t in txns:
        by_trace[t.trace].append(t)
    for trace, group in sorted(by_trace.items()):
        if len(group) > 1:
            violations.append(Violation("trace_reused", f"trace {trace:06d} used by {len(group)} transactions",
                                        tuple(journal_row(t) for t in group)))
    for row in host_rows:
        if row["response_code"] == "94":
            violations.append(Violation("trace_reused", f"the host saw trace {row['stan']} twice in batch "
                                                        f"{row['batch']}", (), (ledger_row(row),)))


def _check_batches(directory: Path, tid: str, ledger: Ledger, violations: list[Violation]) -> int:
    journal = Journal.open(directory / "journal.db", fingerprint_key=None, read_only=True)
    try:
        conn = sqlite3.connect(f"{(directory / 'journal.db').resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            numbers = [r[0] for r in conn.execute("SELECT number FROM batches ORDER BY id")]
        finally:
            conn.close()
        if len(numbers) != len(set(numbers)):
            violations.append(Violation("batch_reused", f"batch numbers repeat in the journal: {numbers}"))
        settled = 0
        for number in sorted(set(numbers)):
            batch = journal.get_batch(number)
            if batch.state != "settled":
                continue
            settled += 1
            rows = journal.batch_totals(number)
            host = ledger.batch_totals(tid, f"{number:06d}")
            frozen = batch.totals
            if frozen is None:  # settlement freezes them: a settled batch without them is a broken journal
                violations.append(Violation("batch_balance", f"settled batch {number:06d} has no frozen totals"))
                continue
            ours = (frozen.debit_amount, frozen.debit_count, frozen.credit_amount, frozen.credit_count)
            recount = (rows.debit_amount, rows.debit_count, rows.credit_amount, rows.credit_count)
            theirs = (host.debit_amount, host.debit_count, host.credit_amount, host.credit_count)
            if not ours == recount == theirs:
                violations.append(Violation("batch_balance", f"settled batch {number:06d}: frozen totals {ours}, "
                                                             f"journal rows {recount}, host {theirs}"))
            if not ledger.is_settled(tid, f"{number:06d}"):
                violations.append(Violation("batch_balance", f"batch {number:06d} is settled in the journal but "
                                                             f"the host has no settlement for it"))
        return settled
    finally:
        journal.close()
