"""Card insertion to ARQC ready, through real pcscd + vpcd + the virtual card, against raw APDU time.

    .venv/bin/python -m bench.card [--cards 10]

For each card: insert (the virtual card connects to vpcd), `CardReader.read_chip` (wait for the card,
connect, PPSE, SELECT, GPO, READ RECORDs, offline data authentication, GENERATE AC). The card is the
`credit` profile: CDA, so the flow recovers three certificates and checks the signed AC.  Raw APDU time is the time spent inside
SCardTransmit in the same run.  Also shows one card without TCP_QUICKACK on the card's socket (the
latency trap of Debian's vpcd).  Prints medians; ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from agent.emv.data import TerminalData
from agent.emv.oda import load_ca_keys
from agent.drivers.pcsc import CardReader
from simulator.card import VirtualCard
from simulator.emvpki import CA_KEYS_FILE
from simulator.stack import start_pcscd
from simulator.testcards import load_cards

READER, PORT = "Virtual PCD 00 00", 35963
CA_KEYS = load_ca_keys(CA_KEYS_FILE)


def one_card(reader: CardReader, card, *, t0: bool, quickack: bool = True) -> dict:
    virtual = VirtualCard(card, PORT, t0=t0, quickack=quickack)
    inserted = time.perf_counter()
    virtual.start()
    try:
        terminal = TerminalData(amount=10000, unpredictable_number=b"\x12\x34\x56\x78", ca_keys=CA_KEYS)
        with reader.read_chip(terminal) as chip:
            ready = time.perf_counter()
            session = reader.last_session
            assert chip.cryptogram
            result = {"total": ready - inserted, "detect": reader.last_card_seen - inserted,
                      "flow": ready - reader.last_card_seen, "raw": session.transmit_seconds,
                      "apdus": session.transmit_count}
    finally:
        virtual.remove()
    if not reader.wait_for_removal(10):
        raise SystemExit("bench.card: the card did not leave the reader")
    return result


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.card")
    parser.add_argument("--cards", type=int, default=10, help="cards per protocol (default 10)")
    args = parser.parse_args()
    pcscd = start_pcscd()
    try:
        reader = CardReader(READER, card_timeout=10, apdu_timeout=5)
        if not reader.wait_for_removal(10):
            raise SystemExit("bench.card: slot 0 holds a card; remove it first")
        card = load_cards()["credit"]
        figures: dict[str, float | int | str] = {"bench": "card", "cards_per_protocol": args.cards, "oda": "CDA",
                                                 "target_flow_over_raw": 4.0}
        for label, t0 in (("t1", False), ("t0", True)):
            rows = [one_card(reader, card, t0=t0) for _ in range(args.cards)]
            total, detect, flow, raw = (median(rows, k) for k in ("total", "detect", "flow", "raw"))
            apdus = rows[0]["apdus"]
            print(f"T={label[1]}: insertion → ARQC {total * 1000:.1f} ms (pcscd sees the card after "
                  f"{detect * 1000:.1f} ms; card seen → ARQC {flow * 1000:.2f} ms); raw APDU round trips "
                  f"{raw * 1000:.2f} ms for {apdus} APDUs ({raw / apdus * 1000:.3f} ms each); "
                  f"flow/raw {flow / raw:.2f}, total/raw {total / raw:.1f}")
            figures.update({f"{label}_insert_to_arqc_ms": round(total * 1000, 2),
                            f"{label}_detect_ms": round(detect * 1000, 2),
                            f"{label}_seen_to_arqc_ms": round(flow * 1000, 3),
                            f"{label}_raw_apdu_ms": round(raw * 1000, 3), f"{label}_apdus": apdus,
                            f"{label}_flow_over_raw": round(flow / raw, 2),
                            f"{label}_total_over_raw": round(total / raw, 1)})
        slow = one_card(reader, card, t0=False, quickack=False)
        print(f"without TCP_QUICKACK on the card: raw APDU round trips {slow['raw'] * 1000:.1f} ms for "
              f"{slow['apdus']} APDUs ({slow['raw'] / slow['apdus'] * 1000:.1f} ms each)")
        figures["no_quickack_raw_apdu_ms"] = round(slow["raw"] * 1000, 2)
        figures["no_quickack_apdu_ms_each"] = round(slow["raw"] / slow["apdus"] * 1000, 2)
        print(json.dumps(figures))
    finally:
        if pcscd is not None:
            pcscd.terminate()
            pcscd.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
