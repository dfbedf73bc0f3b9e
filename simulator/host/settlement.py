"""Settlement (0500): the terminal's field 48 totals compared with the host's ledger for the batch.

Field 48 is two 31-character blocks (domestic, then foreign): debit amount n12, debit count n3,
credit amount n12, credit count n3, flag n1.  The answer repeats them with each flag set to 1
(balanced) or 2 (unbalanced); every test card is domestic, so the host's foreign totals are zero.
A repeated 0500 for a batch already settled gets the same answer and settles nothing twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.iso8583 import Message
from simulator.host import codes
from simulator.host.ledger import BatchTotals

if TYPE_CHECKING:
    from simulator.host.processing import HostProcessor, Request

#: one block of field 48: (name, width)
TOTALS_BLOCK = (("debit_amount", 12), ("debit_count", 3), ("credit_amount", 12), ("credit_count", 3), ("flag", 1))
BLOCK_WIDTH = sum(width for _name, width in TOTALS_BLOCK)
BALANCED, UNBALANCED, ERROR = "1", "2", "3"


def parse_block(text: str) -> BatchTotals | None:
    """One block as totals, or None if it is not all ASCII digits of the right width."""
    if len(text) != BLOCK_WIDTH or not (text.isascii() and text.isdigit()):
        return None
    values, pos = {}, 0
    for name, width in TOTALS_BLOCK:
        values[name] = int(text[pos:pos + width])
        pos += width
    values.pop("flag")
    return BatchTotals(**values)


def format_block(totals: BatchTotals, flag: str) -> str:
    return (f"{totals.debit_amount:012d}{totals.debit_count:03d}{totals.credit_amount:012d}"
            f"{totals.credit_count:03d}{flag}")


def settle(host: HostProcessor, req: Request) -> Message:
    field48 = req.msg.get(48)
    if not isinstance(field48, str) or len(field48) < BLOCK_WIDTH:
        return host.answer(req, codes.FORMAT_ERROR)
    domestic = parse_block(field48[:BLOCK_WIDTH])
    foreign_text = field48[BLOCK_WIDTH:2 * BLOCK_WIDTH] or "0" * BLOCK_WIDTH
    foreign = parse_block(foreign_text)
    if domestic is None or foreign is None:
        return host.answer(req, codes.FORMAT_ERROR)
    previous = host.ledger.settlement(req.tid, req.batch)
    zero = BatchTotals(0, 0, 0, 0)
    foreign_flag = BALANCED if foreign == zero else UNBALANCED
    if previous is not None:  # settled before: the same verdict, from the totals booked then
        domestic_flag = BALANCED if domestic == parse_block(previous["host_totals"][:BLOCK_WIDTH]) else UNBALANCED
    else:
        host_totals = host.ledger.batch_totals(req.tid, req.batch)
        domestic_flag = BALANCED if domestic == host_totals else UNBALANCED
        host.ledger.record_settlement(
            tid=req.tid, batch=req.batch, terminal_totals=field48,
            host_totals=format_block(host_totals, domestic_flag) + format_block(zero, foreign_flag),
            balanced=domestic_flag == foreign_flag == BALANCED, now=req.now.isoformat())
    answer48 = format_block(domestic, domestic_flag) + format_block(foreign, foreign_flag)
    # the settlement answer carries no field 39 in this dialect (domain notes §3)
    return host.answer(req, None, {48: answer48})
