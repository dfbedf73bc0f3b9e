"""PCI: after a run with the simulator's test cards, the database, its WAL, the log and every export
hold none of their PANs or track data — scanned byte-wise, as ASCII and as packed BCD."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agent.cli import main
from agent.journal import Journal, render_text
from agent.logsetup import setup_logging
from simulator.testcards import load_cards

KEY = b"test-fingerprint-key-0123456789ab"


def _forbidden(cards) -> dict[str, bytes]:
    patterns = {}
    for card in cards:
        patterns[f"{card.name} PAN"] = card.pan.encode()
        patterns[f"{card.name} PAN as BCD"] = bytes.fromhex(card.pan if len(card.pan) % 2 == 0 else card.pan + "F")
        patterns[f"{card.name} track 2"] = card.track2.encode()
        patterns[f"{card.name} track 2 (D separator)"] = card.track2.replace("=", "D").encode()
        patterns[f"{card.name} PAN in UTF-16"] = card.pan.encode("utf-16-le")
    return patterns


def _scan(files: list[Path], patterns: dict[str, bytes]) -> list[str]:
    hits = []
    for path in files:
        data = path.read_bytes()
        for what, needle in patterns.items():
            if needle in data:
                hits.append(f"{what} found in {path.name} at offset {data.index(needle)}")
    return hits


def _messages_with_card_data(card):
    """What a careless caller might hand over: the journal must still not store it."""
    def request(trace, batch):
        return {"mti": "0200", "2": card.pan, "11": f"{trace:06d}", "35": card.track2,
                "52": "0123456789ABCDEF", "55": {"57": card.track2.replace("=", "D"), "5A": card.pan,
                                                  "9F26": "A1B2C3D4E5F60718"},
                "echo": f"PAN {card.pan} track {card.track2}"}
    return request


@pytest.fixture
def logfile(tmp_path):
    path = tmp_path / "posagent.log"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("DEBUG", str(path))
    yield path
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def test_no_pan_or_track_data_anywhere_after_a_run(tmp_path, logfile, capsys):
    cards = list(load_cards().values())
    assert len(cards) >= 3
    patterns = _forbidden(cards)
    path = tmp_path / "journal.db"
    j = Journal.open(path, fingerprint_key=KEY)
    for i, card in enumerate(cards):
        txn = j.begin("sale", amount=1000 + i, currency="156", pan=card.pan, entry_mode="051", operator="01",
                      role="cashier", request=_messages_with_card_data(card))
        if i % 3 == 0:
            j.fail(txn.id, reason="98", error=f"timeout for {card.pan}")
            rev = j.pending_reversals()[0]
            j.reversal_attempt(rev.id, {"mti": "0400", "2": card.pan, "35": card.track2})
            j.reversal_acknowledged(rev.id, {"mti": "0410", "39": "00"})
        else:
            j.complete(txn.id, approved=True, response_code="00", rrn=f"{i:012d}", auth_code="A1",
                       response={"mti": "0210", "2": card.pan, "39": "00"})
            refund = j.begin("refund", amount=500, currency="156", pan=card.pan, entry_mode="051", operator="01",
                             role="supervisor", original_id=txn.id, request=_messages_with_card_data(card))
            j.complete(refund.id, approved=True, response_code="00", rrn=None, auth_code=None, response=None)
        j.record_event("operator.note", {"text": f"customer card {card.pan}"}, operator="sup", role="supervisor")
        logging.getLogger("posagent.test").info("processed card %s", card.pan)  # the log filter masks it
    exports = tmp_path / "exports"
    exports.mkdir()
    first = j.find(limit=1000)[-1].id
    bundle = j.export(purchase_of=first)
    (exports / "purchase.json").write_text(json.dumps(bundle))
    (exports / "purchase.txt").write_text(render_text(bundle))
    (exports / "range.json").write_text(json.dumps(j.export(since="2000-01-01")))
    files_open = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files_open), "the WAL should be scanned while it holds data"
    hits = _scan(files_open + list(exports.iterdir()), patterns)
    j.close()
    for argv in (["list"], ["show", str(first)], ["export", "--purchase", str(first), "--text"], ["duplicates"]):
        assert main(["journal", "--journal", str(path), *argv]) == 0
    (exports / "cli.txt").write_text(capsys.readouterr().out)
    hits += _scan([p for p in tmp_path.iterdir() if p.is_file()] + list(exports.iterdir()), patterns)
    assert logfile.stat().st_size > 0
    assert hits == []
    masked = json.loads((exports / "purchase.json").read_text())["transactions"][0]["pan_masked"]
    assert masked.endswith(cards[0].pan[-4:]) and "*" in masked
