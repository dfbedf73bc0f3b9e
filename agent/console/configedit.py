"""`config show` and `config set SECTION.KEY VALUE` for the console: typed text → schema-checked value →
the configuration file replaced atomically.  Secrets are write-only: shown as "(set)", never echoed.

Only the one value changes: the file keeps its comments, its order and its layout (tomlkit edits the
document in place), and the keys it does not name stay at their defaults.  It is saved 0600 (it holds
password hashes).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from agent import config, settings
from agent.drivers import preflight
from agent.auth import hash_password
from agent.consolefiles import atomic_write
from agent.console.texts import say
from agent.console.views import columns
from agent.errors import ConfigError, UsageError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
#: the shortest password the console accepts for a new operator password
MIN_PASSWORD_CHARS = 6
#: integer settings that are money in minor units: "100.00" typed there is answered with the number to type
MINOR_UNIT_SETTINGS = (("emv", "floor_limit"),)


def resolve(name: str, language: str = "en") -> tuple[str, str]:
    """``"acquirer.port"`` → ``("acquirer", "port")``, or a UsageError listing what exists."""
    section, dot, key = name.partition(".")
    if section not in settings.SCHEMA:
        raise UsageError(say(language, "u.no_section", section=section, known=", ".join(settings.SCHEMA)))
    if not dot or key not in settings.SCHEMA[section]:
        raise UsageError(say(language, "u.no_key", name=key, section=section, known=", ".join(settings.SCHEMA[section])))
    return section, key


def is_secret(section: str, key: str) -> bool:
    return settings.SCHEMA[section][key].secret


def is_password(section: str, key: str) -> bool:
    """A password hash key: the technician types the new password, the file gets its scrypt hash."""
    return is_secret(section, key) and key == "password_hash"


def parse_typed(section: str, key: str, text: str, language: str = "en", exponent: int = 2) -> Any:
    """Turn what the technician typed into the schema's type, then validate it."""
    if (section, key) in MINOR_UNIT_SETTINGS and re.fullmatch(r"[0-9]+[.,][0-9]+", text.strip()):
        amount = text.strip().replace(",", ".")
        whole, _, part = amount.partition(".")
        example = int(whole) * 10**exponent + int((part + "0" * exponent)[:exponent] or 0)
        raise UsageError(say(language, "u.minor_units", name=f"{section}.{key}", example=example, amount=amount,
                             text=text))
    setting = settings.SCHEMA[section][key]
    kinds = setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(say(language, "u.unsavable", name=f"{section}.{key}")) from None
    value: Any = text
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        value = text[1:-1]
    elif bool in kinds:
        if text.lower() not in _TRUE | _FALSE:
            raise UsageError(say(language, "u.bad_bool", name=f"{section}.{key}", text=text))
        value = text.lower() in _TRUE
    elif int in kinds or float in kinds:
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text) if float in kinds else text
            except ValueError:
                value = text
        if isinstance(value, float) and value != value:  # NaN is not a setting
            value = text
    try:
        return config.validate_value(section, key, value)
    except ConfigError as exc:
        if language == "en":
            raise
        raise ConfigError(say(language, "u.bad_value", detail=str(exc))) from None


def show(cfg: config.Config, section: str | None = None, language: str = "en") -> str:
    """The effective settings as ``section.key = value`` lines, the names padded to the longest of their
    section; secrets as (set) / (not set)."""
    if section is not None and section not in settings.SCHEMA:
        raise UsageError(say(language, "u.no_section", section=section, known=", ".join(settings.SCHEMA)))
    lines = [say(language, "cfg.source", source=cfg.source or say(language, "cfg.defaults"))]
    for name, keys in settings.SCHEMA.items():
        if section is not None and name != section:
            continue
        rows = []
        for key, setting in keys.items():
            value = cfg[name][key]
            text = say(language, "cfg.set" if value else "cfg.not_set") if setting.secret else config.toml_value(value)
            rows.append((f"{name}.{key}", "=", text))
        lines += columns(rows)  # each section's names padded to its longest
    return "\n".join(lines)


def describe(section: str, key: str, value: Any) -> str:
    """How a saved value is confirmed on screen (never the secret itself)."""
    return f"{section}.{key} = {'(set)' if is_secret(section, key) else config.toml_value(value)}"


def password_value(password: str, language: str = "en") -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsageError(say(language, "u.short_password", count=MIN_PASSWORD_CHARS))
    return hash_password(password)


def save(path: Path, section: str, key: str, value: Any, language: str = "en") -> config.Config:
    """Set one key in the configuration file (atomically) and return the new, validated configuration.
    Everything else in the file — comments, blank lines, order — is written back as it was."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        document = tomlkit.parse(text)
        tomllib.loads(text)  # tomlkit is more lenient in places: the file must be what `run` reads
    except (OSError, ValueError, TOMLKitError) as exc:  # ValueError: undecodable text, bad TOML, an over-long integer
        raise ConfigError(f"cannot read it to change it: {exc}", path=str(path)) from None
    if section not in document:
        document[section] = tomlkit.table()
    document[section][key] = value
    new_text = tomlkit.dumps(document)
    new = config.from_mapping(tomllib.loads(new_text), source=str(path))  # the whole file must still be valid
    for problem in preflight.setting_problems(new):  # values that only make sense together (one line each)
        if f"{section}.{key}" in problem:  # a problem the file had before is not this change's to refuse
            raise ConfigError(problem if language == "en" else say(language, "u.bad_value", detail=problem))
    atomic_write(path, new_text.encode("utf-8"), mode=0o600)  # it holds password hashes
    return new
