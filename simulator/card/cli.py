"""`posim card`: insert a virtual test card into a vpcd reader slot until Ctrl-C or SIGTERM removes it."""

from __future__ import annotations

import argparse
import signal
import threading

from agent.errors import UsageError
from agent.masking import mask_pan
from simulator.card.applet import STEPS, CardOptions, Misbehaviour
from simulator.card.vpcd import VirtualCard, port_for_reader
from simulator.testcards import load_cards


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    card = sub.add_parser("card", help="insert a virtual EMV test card into a virtual reader (through pcscd)",
                          description="Connects to vpcd as a card (insertion); Ctrl-C or SIGTERM removes it.")
    card.add_argument("--reader", type=int, default=0, help="reader slot: 0 = Virtual PCD 00 00, 1 = 00 01")
    card.add_argument("--card", default="debit", help="test card name from the cards file (default: debit)")
    card.add_argument("--also", action="append", default=[], metavar="CARD",
                      help="another application on the same card (a test card name); repeatable")
    card.add_argument("--cards", metavar="FILE", help="test cards file (default: the packaged cards.toml)")
    card.add_argument("--t0", action="store_true", help="answer with a T=0 ATR and T=0 procedure bytes")
    card.add_argument("--no-ppse", action="store_true", help="no PPSE directory (the reader falls back to PSE)")
    card.add_argument("--no-pse", action="store_true", help="no PSE directory either")
    card.add_argument("--confirm", action="store_true", help="applications need the cardholder's confirmation")
    card.add_argument("--decline", action="store_true", help="decline offline (AAC) at the first GENERATE AC")
    card.add_argument("--remove-at", choices=STEPS, metavar="STEP", help=f"leave the reader at STEP ({', '.join(STEPS)})")
    card.add_argument("--mute-at", choices=STEPS, metavar="STEP", help="stop answering at STEP")
    card.add_argument("--sw-at", action="append", default=[], metavar="STEP=SW",
                      help="answer only status word SW (4 hex digits) at STEP, e.g. select=6A81; repeatable")
    card.set_defaults(handler=run_card)


def parse_sw_at(items: list[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in items:
        step, _, sw = item.partition("=")
        if step not in STEPS:
            raise UsageError(f"--sw-at {item}: unknown step {step!r} (steps: {', '.join(STEPS)})")
        if len(sw) != 4 or any(c not in "0123456789abcdefABCDEF" for c in sw):
            raise UsageError(f"--sw-at {item}: the status word must be 4 hex digits, such as 6A81")
        result[step] = int(sw, 16)
    return result


def run_card(args: argparse.Namespace) -> int:
    cards = load_cards(args.cards)
    names = [args.card, *args.also]
    unknown = [n for n in names if n not in cards]
    if unknown:
        raise UsageError(f"unknown test card {unknown[0]!r} (known: {', '.join(cards)})")
    misbehaviour = Misbehaviour(remove_at=args.remove_at, mute_at=args.mute_at, sw_at=parse_sw_at(args.sw_at))
    options = CardOptions(t0=args.t0, ppse=not args.no_ppse, pse=not args.no_pse, confirm=args.confirm,
                          first_ac="AAC" if args.decline else "ARQC")
    card = VirtualCard([cards[n] for n in names], port_for_reader(args.reader), options=options,
                       misbehaviour=misbehaviour)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        card.start()
        print(f"card {args.card} ({mask_pan(cards[args.card].pan)}) inserted in Virtual PCD 00 0{args.reader} "
              f"({'T=0' if args.t0 else 'T=1'}); Ctrl-C removes it", flush=True)
        while not stop.is_set() and not card.left.is_set():
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        card.remove()
        signal.signal(signal.SIGTERM, previous)
    print(f"card {args.card} removed ({card.apdu_count} commands answered)", flush=True)
    return 0
