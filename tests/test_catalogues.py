"""Every operator text has one shape, key → (English, Chinese), and one `say` (`agent.catalogue`).

A pair cannot lack a language, so what is checked is what still can go wrong: a text left empty, a template
that does not parse, a field in one language and not the other.  The catalogues are found by what they
hold — every module-level mapping of string pairs in `agent/` and `posoffice/` — not by a list to keep up
to date, so a new catalogue is checked from its first commit.
"""

from __future__ import annotations

import ast
import importlib
import string
from pathlib import Path
from typing import Any, Mapping

from agent import catalogue

ROOT = Path(__file__).resolve().parent.parent
#: mappings of string pairs that are not texts
NOT_TEXTS = {"agent.roles.PASSWORD_SETTINGS"}  # role → (configuration section, key)
#: fields one language says and the other does not, on purpose: each is listed, so a new one is a decision
ONE_LANGUAGE = {
    "agent.auth.TEXTS[wrong]": {"s"},  # the English plural of "attempt"
    "agent.drivers.hostlink.TEXTS[os_error]": {"strerror", "errno"},  # the OS's English words; Chinese: the number
    "agent.drivers.hostlink.TEXTS[undecodable]": {"detail"},  # the codec's English detail, for the technician
}


def _defined_names(path: Path) -> set[str]:
    """The names a module assigns at its top level (a catalogue is checked where it is made, not imported)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _is_catalogue(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(key, str) and isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for key, pair in value.items())


def catalogues() -> dict[str, Mapping[str, tuple[str, str]]]:
    """"module.NAME" → catalogue, for every one in agent/ and posoffice/."""
    found = {}
    for top in ("agent", "posoffice"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name == "__main__.py":  # runs the command line
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            module = importlib.import_module(name)
            for attribute in _defined_names(path):
                value = getattr(module, attribute, None)
                if _is_catalogue(value) and f"{name}.{attribute}" not in NOT_TEXTS:
                    found[f"{name}.{attribute}"] = value
    return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def problems(found: Mapping[str, Mapping[str, tuple[str, str]]]) -> list[str]:
    """What is wrong with any entry of any catalogue, one line each."""
    out = []
    for where, texts in found.items():
        for key, (english, chinese) in texts.items():
            entry = f"{where}[{key}]"
            if not english.strip() or not chinese.strip():
                out.append(f"{entry}: a language is empty ({english!r}, {chinese!r})")
                continue
            try:
                apart = _fields(english) ^ _fields(chinese)
            except ValueError as exc:
                out.append(f"{entry}: not a template ({exc})")
                continue
            if apart != ONE_LANGUAGE.get(entry, set()):
                out.append(f"{entry}: fields in one language only: {sorted(apart)}")
    return out


def test_every_text_of_every_catalogue_says_both_languages_with_the_same_fields():
    found = catalogues()
    expected = {"agent.engine.texts.TEXTS", "agent.engine.preauth.texts.PREAUTH_TEXTS", "agent.engine.office."
                "OFFICE_TEXTS", "agent.engine.card.store_forward.OFFLINE_TEXTS", "agent.ui.texts.TEXTS",
                "agent.console.texts.TEXTS", "agent.auth.TEXTS", "agent.drivers.hostlink.TEXTS",
                "agent.engine.wallet.plans.TEXTS", "agent.engine.receipts.LABELS", "agent.engine.responses."
                "RESPONSE_CODES", "agent.reconcile.claim.TEXTS", "posoffice.web.texts.TEXTS"}
    assert expected <= set(found), sorted(expected - set(found))  # the search finds what is there
    assert sum(len(texts) for texts in found.values()) > 1000
    assert problems(found) == []
    assert set(ONE_LANGUAGE) <= {f"{where}[{key}]" for where, texts in found.items() for key in texts}


def test_say_picks_the_language_and_fills_any_field_name_in():
    texts: catalogue.Texts = {"found": ("{key} of {texts} in {language}", "{language}的{texts}里的{key}")}
    assert catalogue.say(texts, "en", "found", key="k", texts="t", language="l") == "k of t in l"
    assert catalogue.say(texts, "zh", "found", key="k", texts="t", language="l") == "l的t里的k"
    assert catalogue.say(texts, "fr", "found", key="k", texts="t", language="l") == "k of t in l"  # English
