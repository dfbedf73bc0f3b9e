"""Where a transaction's card comes from: the PC/SC reader (chip), or a named test card (swiped, or keyed).

Blocking calls (the daemon runs them in a thread).  Card data lives here only for the transaction:
`release()` wipes it.  A named test card is read as a swipe (22 = 022) from the card file the
configuration names (`[card_reader] test_cards`) — the path CI and the CLI's `--card` use when no chip
reader is wanted — or, with `--keyed`, as a supervisor keys its number and expiry (012, no track data).  The file is read and checked when the source is made, so a bad one stops the start.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import TYPE_CHECKING, Any, Callable

from agent.emv.card_errors import CardError, CardRemovedAfterApproval
from agent.drivers.cardseal import SealError, binding_of
from agent.drivers.keyed import keyed_entry
from agent.drivers.pinpad import PinPad, PinPadError
from agent.drivers.testcards import TestCard, load_test_cards
from agent.engine.effects import CardFailure
from agent.engine.requests import CardData
from agent.errors import UsageError

if TYPE_CHECKING:  # the reader needs pyscard, loaded only when a chip card is read
    from agent.drivers.cardseal import CardSealer
    from agent.drivers.pcsc import CardReader
    from agent.emv.chip import ChipRead

log = logging.getLogger("posagent.card")


def card_text(language: str, exc: CardError) -> str:
    """`exc`'s cashier message in `language` (engine/texts.py, keys card_<Class>); its own text otherwise."""
    from agent.engine.texts import TEXTS, say

    for cls in type(exc).__mro__:
        key = f"card_{cls.__name__}"
        if key in TEXTS:
            if exc.sw is not None and cls.__name__ == "UnexpectedStatusWord":
                from agent.emv.card_errors import status_word_name
                return say(language, "card_UnexpectedStatusWord_sw", sw=status_word_name(exc.sw))
            return say(language, key)
    return str(exc)


class CardSource:
    def __init__(self, *, reader_pattern: str, card_timeout: float, apdu_timeout: float = 5.0,
                 terminal_id: str = "10000001", currency: str = "156", test_cards_path: str | None = None,
                 emv: Any = None, language: str = "en", pin_cipher: Callable[[str, str], bytes] | None = None,
                 sealer: CardSealer | None = None):
        self.language = language  # the cashier's messages follow [terminal] language
        self.pin_pad = PinPad(pin_cipher)  # loaded per transaction by the daemon, wiped at release
        self.sealer = sealer  # seals the card of an offline approval for its advice (agent/drivers/cardseal.py)
        self.reader_pattern = reader_pattern
        self.card_timeout = card_timeout
        self.apdu_timeout = apdu_timeout
        self.terminal_id = terminal_id
        self.currency = currency
        self.test_cards_path = test_cards_path
        self._chip: ChipRead | None = None
        self._read: CardData | None = None  # a swiped or keyed card of the transaction under way
        self._reader: CardReader | None = None
        self._test_cards: dict[str, TestCard] | None = (
            load_test_cards(os.path.expanduser(test_cards_path)) if test_cards_path else None)
        self._emv_config = emv
        self._emv = self._files_emv = self._emv_settings(emv)
        self.params = self.files_params()  # the chip parameter set in force (`use_params`)

    @staticmethod
    def _emv_settings(emv: Any) -> dict[str, Any]:
        """The terminal's EMV data from `[emv]`; the CA key file is read and checked here, at start."""
        from agent.emv.oda import CaKeys, load_ca_keys
        from agent.tacs import ActionCodes, build_table

        if emv is None:
            return {}
        flat = ActionCodes(bytes.fromhex(emv.tac_denial), bytes.fromhex(emv.tac_online), bytes.fromhex(emv.tac_default))
        return {"ca_keys": load_ca_keys(os.path.expanduser(emv.ca_keys)) if emv.ca_keys else CaKeys(),
                "floor_limit": emv.floor_limit, "tac_denial": flat.denial, "tac_online": flat.online,
                "tac_default": flat.default, "tacs": build_table(emv.tacs, flat)}

    def files_params(self) -> Any:
        """The local files' parameter set (`[emv] ca_keys`, `tacs`, `floor_limit`): the installation default."""
        from agent.emv.oda import set_entries
        from agent.tacs import aids_of_table
        from agent.engine.paramset import ParamSet

        if not self._emv:
            return ParamSet("00000000", "00000000")
        keys, revoked = set_entries(self._emv["ca_keys"])
        return ParamSet.from_content({"params_version": "00000000", "keys_version": "00000000",
                                      "aids": aids_of_table(self._emv["tacs"], self._emv["floor_limit"]),
                                      "keys": keys, "revoked": revoked}, "files")

    def use_params(self, record: Any) -> None:
        """Put a downloaded set in force for the next card read (None: the local files).  Called between
        transactions only: a transaction's terminal data is built once, when its card is read."""
        from agent.emv.oda import ca_keys_from_set
        from agent.tacs import tables_from_set
        from agent.engine.paramset import ParamSet

        if record is None or not self._files_emv:
            self._emv, self.params = self._files_emv, self.files_params()
            return
        params = ParamSet.from_content(record.content, "download")
        flat = self._files_emv["tacs"].fallback
        tacs, settings = tables_from_set(params.aids, flat)
        self._emv = {**self._files_emv, "ca_keys": ca_keys_from_set(params.keys, params.revoked), "tacs": tacs,
                     "aid_settings": settings}
        self.params = params

    @property
    def holds_chip(self) -> bool:
        """A chip card is in the middle of a transaction (its calls block: run them in a thread)."""
        return self._chip is not None

    # -- read -------------------------------------------------------------------------------------
    def read(self, amount: int, test_card: str | None, offline_ok: bool = False, *,
             keyed: bool = False) -> CardData | CardFailure:
        if test_card is not None:
            read = self._read_test_card(test_card, keyed)
            self._read = read if isinstance(read, CardData) else None  # sealed for an advice, wiped at release
            return read
        return self._read_chip(amount, offline_ok)

    def _read_test_card(self, name: str, keyed: bool = False) -> CardData | CardFailure:
        cards = self._test_cards
        if cards is None:
            return CardFailure("no test-card file is configured ([card_reader] test_cards): "
                               "insert the card in the reader instead of naming one")
        card = cards.get(name)
        if card is None:
            return CardFailure(f"no test card named {name!r} (known: {', '.join(sorted(cards))})")
        if keyed:  # the number and expiry as a supervisor keys them: no track data (the engine checked who)
            try:
                entered = keyed_entry(card.pan, card.expiry, allowed=True, supervisor_authorised=True,
                                      today=dt.date.today())
            except UsageError as exc:
                return CardFailure(str(exc))
            return CardData(pan=entered.pan, expiry=entered.expiry, entry_mode=entered.entry_mode, source="manual")
        if self.pin_pad.entered():  # swiped with a PIN: 021 and field 52
            block = self._pin_block(card.pan)
            if isinstance(block, CardFailure):
                return block
            return CardData(pan=card.pan, expiry=card.expiry, entry_mode="021", track2=card.track2,
                            source="test-card", pin_block=block)
        return CardData(pan=card.pan, expiry=card.expiry, entry_mode="022", track2=card.track2,
                        source="test-card")

    def _pin_block(self, pan: str) -> bytes | CardFailure:
        """Field 52 from the PIN pad; a key store without a PIN key (no sign-on yet) is a card failure."""
        from agent.engine.texts import say
        from agent.errors import PosagentError

        try:
            return self.pin_pad.block(pan)
        except (PinPadError, PosagentError) as exc:
            log.info("PIN block: %s", exc)
            return CardFailure(say(self.language, "card_PinPadError"))

    def _read_chip(self, amount: int, offline_ok: bool = False) -> CardData | CardFailure:
        from agent.emv.data import TerminalData
        from agent.drivers.pcsc import CardReader

        if self._reader is None:
            self._reader = CardReader(self.reader_pattern, card_timeout=self.card_timeout,
                                      apdu_timeout=self.apdu_timeout)
        terminal = TerminalData(amount=amount, currency=self.currency, country=self.currency,
                                unpredictable_number=os.urandom(4), ifd_serial=self.terminal_id,
                                offline_approvals=offline_ok, **self._emv)
        try:
            chip = self._reader.read_chip(terminal, enter_pin=self.pin_pad.entered)
        except CardError as exc:
            return CardFailure(self._say(exc))
        self._chip = chip
        block: bytes | None = None
        if chip.entry_mode == "051":  # the CVM list asked for an online PIN and it was entered
            entered = self._pin_block(chip.pan)
            if isinstance(entered, CardFailure):
                self.release()  # the plan stops here: nothing will release the card after
                return entered
            block = entered
        sealed = None
        if chip.approved_offline:
            if self.sealer is None:
                self.release()
                return CardFailure(self._say(CardError("no key to seal the card for the advice")))
            sealed = self.sealer.seal(chip.pan, chip.expiry, chip.field55, binding=binding_of(amount))
        return CardData(pan=chip.pan, expiry=chip.expiry, entry_mode=chip.entry_mode, track2=chip.track2,
                        sequence=chip.sequence, field55=chip.field55, source="chip", pin_block=block,
                        approved_offline=chip.approved_offline, sealed_card=sealed)

    def open_sealed(self, sealed: str, amount: int) -> tuple[str, str, bytes, str | None] | CardFailure:
        """The PAN, expiry, field 55 and track 2 of an offline approval's advice (never logged)."""
        if self.sealer is None:
            return CardFailure("no key to open the sealed card")
        try:
            return self.sealer.open(sealed, binding=binding_of(amount))
        except SealError as exc:
            log.warning("offline advice: %s", exc)
            return CardFailure(str(exc))

    def _say(self, exc: CardError) -> str:
        """The cashier's text for a card problem in the terminal's language (the technical detail is logged)."""
        log.info("card: %s", exc.technical() if hasattr(exc, "technical") else exc)
        return card_text(self.language, exc)

    # -- after the host's answer ------------------------------------------------------------------
    def finish(self, approved: bool, issuer_data: bytes | None) -> str | CardFailure:
        if self._chip is None:
            return "TC" if approved else "AAC"
        try:
            return self._chip.complete(approved, issuer_data)
        except CardRemovedAfterApproval as exc:
            return CardFailure(self._say(exc), removed=True)
        except CardError as exc:
            return CardFailure(self._say(exc))

    def finish_unable_online(self, amount: int, may_approve: bool) -> CardData | CardFailure:
        """The host cannot be reached: the chip card's second GENERATE AC with Y3 / Z3.  Approved: the card
        data of the offline approval (the TC's field 55, the card sealed for its advice)."""
        from agent.engine.texts import say

        chip, sealer = self._chip, self.sealer
        if sealer is None:
            return CardFailure(self._say(CardError("no key to seal the card for the advice")))
        if chip is None and self._read is not None and self._read.field55 is None:
            return self._stored_without_chip(sealer, self._read, amount)
        if chip is None:
            return CardFailure(self._say(CardError("no chip card in the reader")))
        try:
            answer = chip.complete_unable_online(may_approve)
        except CardError as exc:
            return CardFailure(self._say(exc))
        if answer != "TC":
            log.info("offline: the card answered AAC (Z3): %s", chip.unable_online_reason or "the card declined")
            return CardFailure(say(self.language, "card_CardDeclinedOffline"))
        field55 = answer.field55
        if field55 is None:  # a TC carries the field 55 it produced (`agent.emv.chip.SecondAc`)
            return CardFailure(self._say(CardError("the card's TC came without its data")))
        sealed = sealer.seal(chip.pan, chip.expiry, field55, binding=binding_of(amount))
        return CardData(pan=chip.pan, expiry=chip.expiry, entry_mode=chip.entry_mode, sequence=chip.sequence,
                        field55=field55, source="chip", approved_offline=True, sealed_card=sealed)

    @staticmethod
    def _stored_without_chip(sealer: CardSealer, card: CardData, amount: int) -> CardData:
        """A swiped or keyed card stored offline: no cryptogram — the merchant's limits approved it — so
        its PAN, expiry and any track 2 are sealed for the advice (the PIN block never: not kept for later)."""
        sealed = sealer.seal(card.pan, card.expiry, b"", track2=card.track2, binding=binding_of(amount))
        return CardData(pan=card.pan, expiry=card.expiry, entry_mode=card.entry_mode, track2=card.track2,
                        fallback=card.fallback, source=card.source, approved_offline=True, sealed_card=sealed)

    def release(self) -> None:
        self.pin_pad.wipe()
        self._read = None
        chip, self._chip = self._chip, None
        if chip is not None:
            try:
                chip.wipe()
                chip.close()
            except CardError as exc:
                log.warning("card release: %s", exc)
