"""The terminal master key: loaded as components the way terminals are keyed in the field, kept encrypted
at rest under a device key.

Loading (sans-IO, `MasterKeyLoad`): split knowledge and dual control (PCI PIN security).  Each key
custodian enters only their own component, in turn — custodian 1 the first, custodian 2 the second —
typing it at a hidden prompt with the check value printed on their component form; a component whose
check value differs is refused before anything is stored, and no custodian enters two.  The components
are XOR-combined and the combined key's check value is confirmed the same way.  Only then is the key
stored; `record()` is what the journal keeps of the ceremony: who entered which component when, and the
check values — never a component.  (That each custodian is a different person is the console's part:
each logs in with their own password, and one password cannot open both logins.)

At rest (`MasterKeyFile`): ``tmk.enc`` holds the key encrypted with AES-256-GCM under a 256-bit device key
(``device.key``, created 0600 on the first load), bound to its purpose and its check value.  The device
key is kept apart from the data directory (see docs/security.md): a copy of the data directory, a backup or an
export never holds a usable master key.  It does not protect against someone with the terminal's root
account — that is what a secure element behind `agent.keys.store.KeyStore` is for.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.consolefiles import atomic_write
from agent.errors import PosagentError
from agent.iso8583.crypto import kcv

#: what the ciphertext is bound to, so a file encrypted for another purpose cannot be swapped in
_PURPOSE = b"posagent terminal master key v1"
DEVICE_KEY_BYTES = 32
MAX_FILE_BYTES = 4096


class KeyLoadError(PosagentError):
    """A component or check value was refused, or the key files cannot be used; nothing was stored."""


def check_value(key: bytes) -> str:
    """The key's check value as printed on component forms: 6 hex digits (3DES of zeros)."""
    return kcv(key).hex().upper()[:6]


def parse_component(text: str, number: int) -> bytes:
    cleaned = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}", cleaned):
        raise KeyLoadError(f"component {number}: expected 32 or 48 hex digits (a double or triple length key), "
                           f"got {len(cleaned)} characters")
    return bytes.fromhex(cleaned)


def parse_check_value(text: str, what: str) -> str:
    cleaned = text.strip().upper()
    if not re.fullmatch(r"[0-9A-F]{4,6}", cleaned):
        raise KeyLoadError(f"{what}: a check value is 4 to 6 hex digits, got {text.strip()[:12]!r}")
    return cleaned


def _matches(expected: str, actual: str) -> bool:
    return actual.startswith(expected)


@dataclass(frozen=True)
class ComponentEntered:
    """What is kept of one component once it is in: who entered it, when, and its check value."""

    number: int
    custodian: str
    check_value: str
    at: str  # ISO 8601, UTC


@dataclass
class MasterKeyLoad:
    """One key-loading ceremony: each custodian's component and check value in, the combined key out."""

    custodians: tuple[str, ...]
    _components: list[bytes] = field(default_factory=list, repr=False)
    entered: list[ComponentEntered] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.custodians = tuple(self.custodians)
        if len(self.custodians) not in (2, 3):
            raise KeyLoadError(f"a master key is loaded as 2 or 3 components, not {len(self.custodians)}")
        if len(set(self.custodians)) != len(self.custodians):
            raise KeyLoadError("each component needs its own custodian: one person cannot enter two")

    @property
    def count(self) -> int:
        return len(self.custodians)

    @property
    def next_number(self) -> int:
        return len(self._components) + 1

    @property
    def next_custodian(self) -> str | None:
        return None if self.complete else self.custodians[len(self._components)]

    @property
    def complete(self) -> bool:
        return len(self._components) == self.count

    def add(self, custodian: str, component_text: str, form_check_value: str, *,
            now: datetime | None = None) -> str:
        """Add the next component, entered by `custodian`, if its check value matches the form's; return it."""
        number = self.next_number
        if self.complete:
            raise KeyLoadError("all components are already in")
        if custodian != self.next_custodian:
            raise KeyLoadError(f"component {number} is {self.next_custodian}'s to enter, not {custodian}'s")
        component = parse_component(component_text, number)
        if self._components and len(component) != len(self._components[0]):
            raise KeyLoadError(f"component {number} is {len(component) * 2} hex digits, component 1 was "
                               f"{len(self._components[0]) * 2}")
        expected = parse_check_value(form_check_value, f"component {number}")
        actual = check_value(component)
        if not _matches(expected, actual):
            raise KeyLoadError(f"component {number} has check value {actual}, not {expected} as on its form: "
                               f"refused, nothing was stored")
        self._components.append(component)
        at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        self.entered.append(ComponentEntered(number, custodian, actual, at))
        return actual

    def record(self, combined_check_value: str) -> dict[str, str]:
        """The ceremony as the journal keeps it, one flat record: who entered each component when, and the
        check values — never a component."""
        record = {"check_value": combined_check_value}
        for e in self.entered:
            record |= {f"component{e.number}_by": e.custodian, f"component{e.number}_check_value": e.check_value,
                       f"component{e.number}_at": e.at}
        return record

    def combined(self) -> bytes:
        if not self.complete:
            raise KeyLoadError(f"{self.count - len(self._components)} component(s) still missing")
        key = bytes(len(self._components[0]))
        for component in self._components:
            key = bytes(a ^ b for a, b in zip(key, component))
        if len(set(key[i:i + 8] for i in range(0, len(key), 8))) == 1:
            raise KeyLoadError("the combined key's halves are equal (a single-DES key in disguise): refused")
        return key

    def confirm(self, combined_check_value: str) -> bytes:
        """The combined key, once its check value is confirmed; the components are forgotten."""
        key = self.combined()
        expected = parse_check_value(combined_check_value, "combined key")
        actual = check_value(key)
        if not _matches(expected, actual):
            raise KeyLoadError(f"the combined key has check value {actual}, not {expected}: refused, "
                               f"nothing was stored")
        self._components.clear()
        return key


class MasterKeyFile:
    """The TMK encrypted at rest under the device key; the software key store reads it at start."""

    def __init__(self, path: Path, device_key_path: Path):
        self.path = Path(path)
        self.device_key_path = Path(device_key_path)

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def _device_key(self, *, create: bool) -> bytes:
        try:
            key = self.device_key_path.read_bytes()
        except FileNotFoundError:
            if not create:
                raise KeyLoadError(f"the device key {self.device_key_path} is missing: the master key in "
                                   f"{self.path} cannot be read; load the master key again") from None
            self.device_key_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.device_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                raise KeyLoadError(f"cannot create the device key {self.device_key_path}: {exc.strerror}") from None
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(DEVICE_KEY_BYTES))
                f.flush()
                os.fsync(f.fileno())
            key = self.device_key_path.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read the device key {self.device_key_path}: {exc.strerror}") from None
        if len(key) != DEVICE_KEY_BYTES:
            raise KeyLoadError(f"the device key {self.device_key_path} is {len(key)} bytes, not {DEVICE_KEY_BYTES}")
        return key

    @property
    def previous_path(self) -> Path:
        """The key that was in force before the last load, kept (as sealed) until a sign-on under the new one
        succeeds: ``tmk.enc.previous``; ``{"development": true}`` in it when that was [keys] tmk."""
        return self.path.with_name(self.path.name + ".previous")

    def stored_check_value(self, path: Path | None = None) -> str | None:
        """The check value written beside a sealed key (no device key needed); None when there is no file,
        "development" for the development key, "?" for a file that cannot be read."""
        try:
            record = json.loads((path or self.path).read_bytes()[:MAX_FILE_BYTES + 1])
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return "?"
        if not isinstance(record, dict):
            return "?"
        if record.get("development") is True:
            return "development"
        value = record.get("check_value")
        return value if isinstance(value, str) and re.fullmatch(r"[0-9A-F]{6}", value) else "?"

    def waiting(self) -> tuple[str, str] | None:
        """(previous check value or "development", new check value) while a loaded key waits for its first
        sign-on; None when the key on file is in force."""
        previous = self.stored_check_value(self.previous_path)
        if previous is None:
            return None
        return previous, self.stored_check_value() or "development"

    def confirm(self, check_value_in_use: str) -> bool:
        """A sign-on under `check_value_in_use` succeeded: when that is the waiting key, it is in force and the
        previous one is dropped.  (A daemon still running the old key signs on without confirming the new.)"""
        if self.waiting() is None or self.stored_check_value() != check_value_in_use:
            return False
        self.previous_path.unlink(missing_ok=True)
        return True

    def restore_previous(self) -> str:
        """Put the previous key back in force; return its check value ("development": [keys] tmk again)."""
        kept = self.waiting()
        if kept is None:
            raise KeyLoadError("no previous master key is kept: the key on file is the one in force")
        previous, _ = kept
        if previous == "?":
            raise KeyLoadError(f"the previous master key file {self.previous_path} is damaged: load the key again")
        try:
            if previous == "development":
                self.path.unlink(missing_ok=True)
                self.previous_path.unlink()
            else:
                os.replace(self.previous_path, self.path)
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise KeyLoadError(f"cannot put the previous master key back in {self.path}: {exc.strerror}") from None
        return previous

    def store(self, tmk: bytes) -> str:
        """Encrypt and save the key (atomically, 0600); return its check value.  The key in force until now
        stays beside it (`previous_path`) until a sign-on under the new one succeeds (`confirm`)."""
        if not self.previous_path.exists():  # a second load before any sign-on keeps the key the bank knows
            try:
                kept = self.path.read_bytes() if self.path.exists() else json.dumps({"development": True}).encode()
            except OSError as exc:
                raise KeyLoadError(f"cannot keep the master key in force ({self.path}): {exc.strerror}; "
                                   f"nothing was stored") from None
            atomic_write(self.previous_path, kept, mode=0o600)
        nonce = secrets.token_bytes(12)
        kcv_text = check_value(tmk)
        sealed = AESGCM(self._device_key(create=True)).encrypt(nonce, tmk, _PURPOSE + kcv_text.encode())
        record = {"format": 1, "check_value": kcv_text, "nonce": nonce.hex(), "sealed": sealed.hex()}
        atomic_write(self.path, json.dumps(record).encode("ascii"), mode=0o600)
        return kcv_text

    def load(self) -> bytes:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read the master key file {self.path}: {exc.strerror}") from None
        try:
            if len(raw) > MAX_FILE_BYTES:
                raise ValueError("too large")
            record = json.loads(raw)
            kcv_text, nonce, sealed = record["check_value"], bytes.fromhex(record["nonce"]), bytes.fromhex(
                record["sealed"])
            if record.get("format") != 1 or not isinstance(kcv_text, str):
                raise ValueError("unknown format")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyLoadError(f"the master key file {self.path} is damaged: load the master key again") from None
        try:
            tmk = AESGCM(self._device_key(create=False)).decrypt(nonce, sealed, _PURPOSE + kcv_text.encode())
        except (InvalidTag, ValueError):
            raise KeyLoadError(f"the master key file {self.path} does not open with the device key "
                               f"{self.device_key_path} (changed or swapped): load the master key again") from None
        if check_value(tmk) != kcv_text:
            raise KeyLoadError(f"the master key in {self.path} does not match its check value")
        return tmk
