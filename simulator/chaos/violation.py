"""A violation of the chaos campaign's rules: the rule it breaks, what was found, and the journal's and the
ledger's rows that show it, one line each.

Apart from `simulator.chaos.checker`: the checker, the byte scan of the terminal's disk
(`simulator.chaos.diskscan`) and the campaign that runs them all report violations in this one shape.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agent.journal.records import Txn


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str
    journal_rows: tuple[str, ...] = ()
    ledger_rows: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [f"[{self.rule}] {self.detail}"]
        lines += [f"    journal: {row}" for row in self.journal_rows]
        lines += [f"    ledger:  {row}" for row in self.ledger_rows]
        return "\n".join(lines)



def journal_row(t: Txn) -> str:
    return (f"id={t.id} {t.kind} trace={t.trace:06d} batch={t.batch:06d} {t.state} amount={t.amount} "
            f"card={t.pan_masked} rc={t.response_code} original={t.original_id}")


def ledger_row(r: sqlite3.Row) -> str:
    return (f"id={r['id']} {r['kind']} {r['mti']} batch={r['batch']} stan={r['stan']} amount={r['amount']} "
            f"rc={r['response_code']} reversed={'yes' if r['reversed_at'] else 'no'} orig={r['orig_id']} "
            f"card={r['masked_pan']}")
