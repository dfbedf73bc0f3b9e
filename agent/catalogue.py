"""Every text an operator reads, in one shape, said by one function.

A catalogue maps a key to its (English, Chinese) pair of `str.format` templates with the same named fields.
`say` picks the language (`[terminal] language`: "zh" is Chinese, anything else English) and fills the fields
in; a module binds it to its catalogue with `functools.partial` (`say = partial(catalogue.say, TEXTS)`).
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
