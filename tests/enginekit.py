"""Drive engine plans synchronously against real parts, with no sockets and no threads.

`World` holds a real journal (SQLite file), a real key store, the real codec (every message is encoded
and decoded on its way, MACs computed and checked) and the simulator's sans-IO acquirer with its own
ledger.  Faults are injected per exchange by a `wire` function: deliver, lose the request, lose the
answer after the host moved money, corrupt the MAC, change the amount, ...  Time is a counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from agent.engine import effects as fx
from agent.engine.purchases import Operator
from agent.engine.journalport import JournalPort
from agent.engine.port import METHODS, Ask, check_port
from agent.engine.requests import CardData, Profile
from agent.iso8583 import get_dialect
from agent.journal import Journal
from agent.keys.store import SoftwareKeyStore
from agent.engine.netmgmt import apply_signon_response
from simulator.host.ledger import Ledger
from simulator.host.processing import HostProcessor
from simulator.testcards import load_cards

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PROFILE = Profile(terminal_id="10000001", merchant_id="123456789012345")
CASHIER = Operator("cashier", "cashier")
SUPERVISOR = Operator("supervisor", "supervisor")

#: what can happen to one exchange on the wire
DELIVER, LOSE_REQUEST, LOSE_ANSWER, CORRUPT_MAC, WRONG_AMOUNT, REFUSE, DECLINE = (
    "deliver", "lose_request", "lose_answer", "corrupt_mac", "wrong_amount", "refuse", "decline")


class RecordingJournal:
    """The journal port over a real journal, recording every question and write a plan made, in order."""

    def __init__(self, journal: JournalPort):
        check_port(journal)
        self.journal = journal
        self.calls: list[tuple[str, tuple, dict]] = []

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


def _recorded(name: str):
    def call(self: RecordingJournal, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((name, args, kwargs))
        return getattr(self.journal, name)(*args, **kwargs)
    call.__name__ = name
    return call


for _name in METHODS:
    setattr(RecordingJournal, _name, _recorded(_name))


class Clock:
    def __init__(self, start: float = 1_790_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    tmp: Path
    profile: Profile = PROFILE
    wire: Callable[[Any], str] = lambda message: DELIVER
    clock: Clock = field(default_factory=Clock)
    exchanges: list[tuple[str, str]] = field(default_factory=list)  # (mti, what happened)
    card_removed_after_approval: bool = False

    def __post_init__(self) -> None:
        self.dialect = get_dialect("cup")
        self.cards = load_cards()
        self.journal = Journal.open(self.tmp / "journal.db", fingerprint_key=b"k" * 32, clock=self.clock)
        self.port = RecordingJournal(self.journal)
        self.keystore = SoftwareKeyStore(TMK, self.tmp / "keys.json")
        self.ledger = Ledger(self.tmp / "ledger.db")
        self.host = HostProcessor(self.ledger, self.cards, dialect=self.dialect, tmk_for=lambda tid: TMK)

    def close(self) -> None:
        self.journal.close()
        self.ledger.close()

    # -- the interpreter --------------------------------------------------------------------------
    def run(self, plan: fx.Plan) -> fx.Outcome:
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = plan.throw(error) if error is not None else plan.send(result)
            except StopIteration as stop:
                return stop.value
            error = None
            try:
                result = self.perform(effect)
            except Exception as exc:  # noqa: BLE001 — thrown into the plan like the daemon does
                error = exc

    def run_under(self, plan: fx.Plan, fates: list[str]) -> fx.Outcome | None:
        """Run `plan` while the wire does `fates` to its exchanges, one each in order, then delivers;
        None when the plan was refused before anything was sent (an EngineError)."""
        queue = list(fates)
        self.wire = lambda message: queue.pop(0) if queue and message is not None else DELIVER
        try:
            return self.run(plan)
        except fx.EngineError:
            return None

    def cut_after(self, plan: fx.Plan, effects: int) -> bool:
        """A power cut: the plan performs its first `effects` effects, then nothing more ever runs.  True
        when the plan had finished before the cut."""
        result, finished = None, False
        for _ in range(effects):
            try:
                effect = plan.send(result)
            except StopIteration:
                finished = True
                break
            result = self.perform(effect)
        plan.close()
        return finished

    def recover_telling_open_fixes(self) -> list:
        """The daemon's recovery after a cut; what it tells the operator names every fix left open with
        where its money stands (as the journal says).  Returns the open fixes."""
        from agent.engine import fixrun, settlement
        recovered = self.run(settlement.recover(self.profile))
        open_now = self.journal.open_fixes()
        assert ("left open" in recovered.message) == bool(open_now), recovered.message
        for fix in open_now:
            summary = fixrun.summary(self.profile, fix, self.journal.get(fix.original_id),
                                     self.journal.fix_txns(fix.id))
            assert summary["standing"] in recovered.message
        return open_now

    def perform(self, effect: Any) -> Any:
        if isinstance(effect, Ask):
            return effect.on(self.port)
        if isinstance(effect, fx.Connect):
            if self.wire(None) == REFUSE:
                return fx.NoAnswer("refused", False, "connection refused")
            return True
        if isinstance(effect, fx.Exchange):
            return self.exchange(effect.request)
        if isinstance(effect, fx.SignOnNeeded):
            return not self.keystore.has_keys
        if isinstance(effect, fx.InstallKeys):
            return apply_signon_response(effect.request, effect.response, self.keystore)
        if isinstance(effect, fx.ReadCard):
            card = self.cards[effect.test_card or "debit"]
            return CardData(pan=card.pan, expiry=card.expiry, entry_mode="022", track2=card.track2,
                            source="test-card")
        if isinstance(effect, fx.FinishCard):
            if self.card_removed_after_approval and effect.approved:
                return fx.CardFailure("Card removed", removed=True)
            return "TC" if effect.approved else "AAC"
        if isinstance(effect, (fx.ReleaseCard, fx.Notify)):
            return None
        raise TypeError(f"unknown effect {effect!r}")

    def exchange(self, request) -> Any:
        self.clock.advance(1)
        if self.dialect.mac_required(request) and self.keystore.has_keys:
            request = self.keystore.sign(self.dialect, request)
        wire_request = self.dialect.decode(self.dialect.encode(request))
        fate = self.wire(request)
        self.exchanges.append((request.mti, fate))
        if fate == REFUSE:
            return fx.NoAnswer("refused", False, "connection refused")
        if fate == LOSE_REQUEST:
            return fx.NoAnswer("timeout", True, "no answer (request lost)")
        now = datetime.fromtimestamp(self.clock.now, timezone.utc)
        response = self.host.decline(wire_request, now) if fate == DECLINE else self.host.handle(wire_request, now)
        if response is None or fate == LOSE_ANSWER:
            return fx.NoAnswer("timeout", True, "no answer (answer lost)")
        if fate == CORRUPT_MAC and 64 in response:
            response = response.replace({64: bytes(b ^ 0xFF for b in response[64])})
        if fate == WRONG_AMOUNT and 4 in response:
            response = response.replace({4: f"{int(response[4]) + 1:012d}"})
        response = self.dialect.decode(self.dialect.encode(response))
        mac_valid = None
        if 64 in response:
            mac_valid = self.keystore.has_keys and self.keystore.verify_mac(self.dialect, response)
        elif self.dialect.mac_required(response) and response.get(39) == "00":
            mac_valid = False
        return fx.Answer(response, mac_valid)

    # -- what the bank believes -------------------------------------------------------------------
    def net_charged(self, card: str = "debit") -> int:
        return self.ledger.card_net_charged(card)
