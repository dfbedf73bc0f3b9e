"""Configuration: one TOML file, validated against one declarative schema (`agent.settings.SCHEMA`).

Every setting posagent reads is declared once in `agent.settings` with its type, default and meaning; this
module loads and checks a file against it, writes TOML back, and renders the reference docs/configuration.md
holds (a test keeps the two in step).  With no file
at all the embedded defaults run the agent against the local simulator.

Errors name the key and why: ``acquirer.port: expected an integer from 1 to 65535, got "x"``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from agent.errors import ConfigError
from agent.settingchecks import brief
from agent.settings import AMOUNT_SETTINGS, SCHEMA, minor_units

#: where the daemon and CLI look for the file when neither --config nor $POSAGENT_CONFIG is given
DEFAULT_CONFIG_PATHS = (Path("/etc/posagent/posagent.toml"),)


class Config:
    """A validated configuration: ``config["acquirer"]["port"]`` or ``config.acquirer.port``."""

    def __init__(self, values: Mapping[str, Mapping[str, Any]], source: str | None = None):
        self._values = MappingProxyType({s: MappingProxyType(dict(v)) for s, v in values.items()})
        self.source = source

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self._values[section]

    def __getattr__(self, section: str) -> Any:
        try:
            values = self._values[section]
        except KeyError:
            raise AttributeError(section) from None
        return _Section(values)

    def as_dict(self, *, hide_secrets: bool = True) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for section, keys in SCHEMA.items():
            out[section] = {}
            for key, setting in keys.items():
                value = self._values[section][key]
                out[section][key] = "(set)" if hide_secrets and setting.secret and value else value
        return out

    def path(self, section: str, key: str) -> Path:
        """A path setting with ``~`` expanded."""
        return Path(os.path.expanduser(self._values[section][key]))


class _Section:
    def __init__(self, values: Mapping[str, Any]):
        self._v = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._v[key]
        except KeyError:
            raise AttributeError(key) from None


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if isinstance(kind, tuple):
        return "a number" if set(kind) == {int, float} else " or ".join(names[k] for k in kind)
    return names[kind]


def validate_value(section: str, key: str, value: Any, *, path: str | None = None) -> Any:
    """Check one value against the schema; return it normalised (ints widened to float where asked)."""
    setting = SCHEMA[section][key]
    name = f"{section}.{key}"
    kinds = setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)
    # bool is an int in Python: never accept true/false for a number, nor 1 for a bool
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        unit = " in minor units (fen): 10000 for 100.00" if "in minor units" in setting.doc else ""
        raise ConfigError(f"expected {_type_name(setting.kind)}{unit}, got {type(value).__name__} {brief(value)}",
                          key=name, path=path)
    if float in kinds and isinstance(value, int):
        value = float(value)
    if setting.check is not None:
        reason = setting.check(value)
        if reason:
            raise ConfigError(reason, key=name, path=path)
    return value


def from_mapping(data: Mapping[str, Any], *, source: str | None = None) -> Config:
    """Validate a parsed TOML document; unknown sections or keys and wrong types are errors."""
    values: dict[str, dict[str, Any]] = {s: {k: st.default for k, st in keys.items()} for s, keys in SCHEMA.items()}
    for section, table in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"unknown section (known: {', '.join(SCHEMA)})", key=section, path=source)
        if not isinstance(table, dict):
            raise ConfigError("expected a table [" + section + "]", key=section, path=source)
        for key, value in table.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"unknown key (known in [{section}]: {', '.join(SCHEMA[section])})",
                                  key=f"{section}.{key}", path=source)
            values[section][key] = validate_value(section, key, value, path=source)
    for section, keys in SCHEMA.items():
        for key, setting in keys.items():
            if setting.required and key not in data.get(section, {}):
                raise ConfigError("missing required key", key=f"{section}.{key}", path=source)
    for section, key in AMOUNT_SETTINGS:  # their decimals against the currency's, now that both are known
        minor_units(values, section, key, path=source)
    return Config(values, source)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the configuration: `path`, else $POSAGENT_CONFIG, else /etc/posagent/posagent.toml, else defaults."""
    if path is None:
        env = os.environ.get("POSAGENT_CONFIG")
        if env:
            path = env
        else:
            path = next((p for p in DEFAULT_CONFIG_PATHS if p.exists()), None)
    if path is None:
        return from_mapping({}, source=None)
    return from_mapping(read_toml(path), source=str(path))


def load_for_command(args: Any) -> Config:
    """The configuration a command runs with: its parsed `--config`, else the places `load` looks."""
    return load(getattr(args, "config", None))


def read_toml(path: str | os.PathLike[str], what: str | None = None) -> dict[str, Any]:
    """The TOML file at `path` as a dict; a one-line `ConfigError` naming the file otherwise.  `what`
    names the file's role in a read error ("cannot read test cards: …"); without it a missing file is
    "file not found"."""
    return read_toml_text(path, what)[0]


def read_toml_text(path: str | os.PathLike[str], what: str | None = None) -> tuple[dict[str, Any], str]:
    """`read_toml`, with the file's text (for messages that name a line)."""
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}" if what else "file not found", path=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read{' ' + what if what else ''}: {exc.strerror}", path=source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (bad byte at offset {exc.start})", path=source) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=source) from None
    except ValueError as exc:  # an integer too long for Python to convert: "Exceeds the limit (4300 digits)..."
        raise ConfigError(f"not valid TOML: {str(exc).split(':')[0]}", path=source) from None


def dump_toml(config: Config, *, hide_secrets: bool = True) -> str:
    """Render a whole configuration as TOML text (to show the settings in effect)."""
    return to_toml(config.as_dict(hide_secrets=hide_secrets))


def to_toml(data: Mapping[str, Mapping[str, Any]]) -> str:
    """The one TOML writer: the keys present in `data`, in the schema's order (what every save writes)."""
    lines: list[str] = []
    for section, keys in SCHEMA.items():
        table = data.get(section) or {}
        present = [k for k in keys if k in table]
        if not present:
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(table[k])}" for k in present]
        lines.append("")
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + "".join(_toml_char(c) for c in str(value)) + '"'


def _toml_char(c: str) -> str:
    if c in '"\\':
        return "\\" + c
    if c.isprintable():
        return c
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def reference_markdown() -> str:
    """The configuration reference as Markdown: one table per section (docs/configuration.md's copy of it)."""
    lines: list[str] = []
    for section, keys in SCHEMA.items():
        lines += [f"#### [{section}]", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, setting in keys.items():
            default = "(secret)" if setting.secret and setting.default else toml_value(setting.default)
            lines.append(f"| `{key}` | {_type_name(setting.kind)} | `{default}` | {setting.doc} |")
        lines.append("")
    return "\n".join(lines)
