"""A purchase's evidence from the office: the terminal's bundle format (`agent.journal.export`, checked by the
same `verify_bundle`), built from the events the office holds, and the proof shown on the Transaction page."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from agent.journal.export import BUNDLE_FORMAT
from agent.journal.hashchain import canonical, content_hash, link, verify_bundle_proof
from posoffice.report import Transaction


def bundle_of(terminal: str, txn_id: int, txns: list[Transaction], events: list[dict[str, Any]],
              proof: dict[str, Any] | None, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The bundle of one terminal's part of a purchase, with the masked ISO 8583 messages the terminal shipped of
    it (the proof covers the events only, as in the terminal's own bundle, so `verify_bundle` is unchanged)."""
    mine = [t for t in txns if t.terminal == terminal]
    return {"format": BUNDLE_FORMAT, "exported_at": time.time(),
            "scope": {"purchase_of": txn_id, "terminal": terminal, "source": "posoffice"},
            "transactions": [{**dataclasses.asdict(t), "id": t.txn_id} for t in mine],
            "messages": messages, "reversals": [], "events": events,
            "proof": proof or {"algorithm": "", "start_previous_hash": "", "links": [], "head_id": None,
                               "head_hash": ""}}


def check_events(events: list[dict[str, Any]], proof: dict[str, Any]) -> dict[str, Any]:
    """Per event: its content re-hashed and its link from the event before; and the whole proof to the head."""
    hashes = {seq: h for seq, _c, h in proof["links"]}
    rows = []
    for e in events:
        recomputed = content_hash(e["id"], e["at"], e["txn_id"], e["kind"], e["operator"], e["role"],
                                  canonical(e["details"]))
        previous = hashes.get(e["id"] - 1, proof["start_previous_hash"] if e["id"] == proof["links"][0][0] else None)
        rows.append({"seq": e["id"], "content_ok": recomputed == e["content_hash"],
                     "link_ok": previous is not None and link(previous, e["content_hash"]) == e["hash"],
                     "hash": e["hash"]})
    return {"events": rows, "whole": verify_bundle_proof(proof, events), "head": proof["head_id"],
            "links": len(proof["links"])}
