"""Every text an operator reads, in one shape, said by one function.

A catalogue maps a key to its (English, Chinese) pair of `str.format` templates with the same named fields:
the engine's words to the cashier (`agent.engine.texts`, which holds the card reader's `card_*` texts and
merges the pre-authorization family's and the store-and-forward's), the keypad's screens (`agent.ui.texts`),
the technician's console (`agent.console.texts`), the password gate's refusals (`agent.auth`), the link's
failures (`agent.drivers.hostlink`), the payment code's (`agent.engine.wallet.plans`), another till's refund
(`agent.engine.office`), the receipt's labels (`agent.engine.receipts`), the response codes
(`agent.engine.responses`) and the claim letter's (`agent.reconcile.claim`).  `say` picks the language
(`[terminal] language`: "zh" is Chinese, anything else English) and fills the fields in; a module binds it to
its catalogue with `functools.partial` (`say = partial(catalogue.say, TEXTS)`).  A pair cannot lack a
language: `tests/test_catalogues.py` checks every entry of every catalogue for what still can go wrong (an
empty text, a field in one language and not the other).
"""

from __future__ import annotations

from typing import Mapping

#: a catalogue: key → (English, Chinese)
Texts = dict[str, tuple[str, str]]

#: the languages of a pair, in its order
LANGUAGES = ("en", "zh")


def say(texts: Mapping[str, tuple[str, str]], language: str, key: str, /, **values: object) -> str:
    """`key`'s text of `texts` in `language` ("zh" for Chinese, English otherwise), its fields filled in from
    `values` (any names: the first three are positional only)."""
    english, chinese = texts[key]
    return (chinese if language == "zh" else english).format(**values)
