"""The key store: the crypto provider the engine talks to (a PIN pad or HSM could replace it).

`SoftwareKeyStore` holds the terminal master key from the configuration and the working keys of the
last sign-on.  Working keys are kept only as they arrived — encrypted under the TMK, with their
check values — in a small JSON file (mode 0600), decrypted into memory at load, and never logged;
a key whose check value does not match is refused.

Single-DES keys are refused — a single-length master key, a key mode whose working keys are 8 bytes
(001), such working keys at sign-on — unless the dialect requires them, that is offers no double-length
layout in field 62 (`single_des_required`).
"""

from __future__ import annotations

import hmac
import logging
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from agent import atomicfile
from agent.errors import PosagentError
from agent.iso8583 import Dialect, Message
from agent.iso8583.crypto import KeyCheckError, encrypt_pin_block, kcv, unwrap_working_key
from agent.iso8583.subfields import KEY_LAYOUTS

if TYPE_CHECKING:
    from agent.config import Config
    from agent.keys.load import MasterKeyFile

#: working-key names in field 62 order
KEY_NAMES = ("pin", "mac", "track")
KEY_FILE_NAME = "working-keys.json"

log = logging.getLogger("posagent.keys")


def default_key_file(cfg: Config) -> Path:
    """Where the working keys live: `working-keys.json` in the journal's folder."""
    return cfg.path("journal", "path").with_name(KEY_FILE_NAME)


class KeyStoreError(PosagentError):
    """The key store cannot do what was asked (no working keys yet, unreadable key file...)."""


SINGLE_DES_BYTES = 8


def _layouts(dialect: Dialect) -> dict[str, tuple[int, int]]:
    return dict(getattr(dialect, "key_layouts", None) or KEY_LAYOUTS)


def single_des_required(dialect: Dialect) -> bool:
    """True only for a dialect whose field 62 layouts are all single-length keys (it has no stronger mode)."""
    return all(key_len == SINGLE_DES_BYTES for key_len, _ in _layouts(dialect).values())


def check_key_mode(key_mode: str, dialect: Dialect) -> None:
    """Refuse a sign-on key mode with single-DES working keys when the dialect offers double-length keys."""
    layout = _layouts(dialect).get(key_mode)
    if layout is None:
        raise KeyStoreError(f"key mode {key_mode} is not one the {dialect.name} dialect knows "
                            f"({', '.join(sorted(_layouts(dialect)))})")
    if layout[0] == SINGLE_DES_BYTES and not single_des_required(dialect):
        raise KeyStoreError(f"keys.key_mode {key_mode} asks for single-DES working keys: refused, the "
                            f"{dialect.name} dialect offers double-length keys (use 003 or 004)")


class KeyStore(Protocol):
    def install_working_keys(self, keys: list[tuple[bytes, bytes]], *, key_mode: str,
                             now: datetime | None = None) -> dict[str, str]: ...

    def mac(self, data: bytes) -> bytes: ...

    def sign(self, dialect: Dialect, msg: Message) -> Message: ...

    def verify_mac(self, dialect: Dialect, msg: Message) -> bool: ...

    def pin_block(self, pin: str, pan: str) -> bytes: ...

    def key_check_values(self) -> dict[str, str]: ...

    @property
    def installed_at(self) -> datetime | None: ...

    def keys_age(self, now: datetime | None = None) -> float | None: ...


class SoftwareKeyStore:
    """TMK in memory from the configuration; working keys encrypted under it in `path`."""

    def __init__(self, tmk: bytes, path: str | os.PathLike[str] | None = None, *, mac_algorithm: str = "cup-ecb",
                 single_des: bool = False) -> None:
        if len(tmk) not in (8, 16, 24):
            raise KeyStoreError("the terminal master key must be 8, 16 or 24 bytes")
        if len(tmk) == SINGLE_DES_BYTES and not single_des:
            raise KeyStoreError("the terminal master key is a single-DES key (16 hex digits): refused, load a "
                                "double- or triple-length key")
        #: whether single-DES working keys may be installed (only for a dialect that requires them)
        self.single_des = single_des
        self._tmk = bytes(tmk)
        self.master_check_value = kcv(self._tmk).hex().upper()[:6]  # shown so a technician can tell which key
        self.master_source = "development key"
        self.path = Path(path) if path is not None else None
        #: the sealed master key file (`agent.keys.load.MasterKeyFile`) this key came from, if any
        self.master_file: MasterKeyFile | None = None
        self.mac_algorithm = mac_algorithm
        self._keys: dict[str, bytes] = {}
        self._check_values: dict[str, str] = {}
        self._installed_at: datetime | None = None
        self.key_mode: str | None = None
        if self.path is not None and self.path.exists():
            self._load()

    def __repr__(self) -> str:
        return f"SoftwareKeyStore(keys={sorted(self._keys)}, installed_at={self._installed_at})"

    @classmethod
    def from_config(cls, cfg: Config) -> "SoftwareKeyStore":
        """The loaded master key (`keys load`, encrypted at rest) or else the development key of [keys] tmk;
        the working keys in the file beside the journal (working-keys.json)."""
        from agent.keys.load import MasterKeyFile
        from agent.iso8583.dialects import get_dialect
        dialect = get_dialect(cfg["acquirer"]["dialect"])
        check_key_mode(cfg["keys"]["key_mode"], dialect)
        loaded = MasterKeyFile(cfg.path("keys", "tmk_file"), cfg.path("keys", "device_key_file"))
        tmk = loaded.load() if loaded.exists else bytes.fromhex(cfg["keys"]["tmk"])
        store = cls(tmk, default_key_file(cfg), single_des=single_des_required(dialect))
        store.master_source = "loaded" if loaded.exists else "development key"
        store.master_file = loaded if loaded.exists else None
        return store

    # -- installing ----------------------------------------------------------------------------
    def install_working_keys(self, keys: list[tuple[bytes, bytes]], *, key_mode: str,
                             now: datetime | None = None) -> dict[str, str]:
        """Install (encrypted key, check value) pairs in field 62 order; all or none.

        Returns the check values (hex) of the installed keys; a mismatch raises KeyCheckError."""
        if not 2 <= len(keys) <= len(KEY_NAMES):
            raise KeyStoreError(f"expected 2 or 3 working keys, got {len(keys)}")
        if not self.single_des and any(len(encrypted) == SINGLE_DES_BYTES for encrypted, _ in keys):
            raise KeyStoreError(f"single-DES working keys (key mode {key_mode}) refused: the dialect offers "
                                f"double-length keys")
        clear: dict[str, bytes] = {}
        for name, (encrypted, check) in zip(KEY_NAMES, keys):
            try:
                clear[name] = unwrap_working_key(self._tmk, encrypted, check)
            except KeyCheckError:
                raise KeyCheckError(f"the {name} key's check value does not match: keys rejected{self._way_back()}",
                                    field=62) from None
        installed_at = now or datetime.now(timezone.utc)
        if self.path is not None:  # saved first: keys that could not be saved are not used either
            self._save([(name, enc, chk) for name, (enc, chk) in zip(KEY_NAMES, keys)], key_mode, installed_at)
        self._keys = clear
        self._check_values = {name: kcv(key).hex().upper() for name, key in clear.items()}
        self._installed_at = installed_at
        self.key_mode = key_mode
        self._confirm_master_key()
        return dict(self._check_values)

    def _waiting(self) -> tuple[str, str] | None:
        """(previous, new) check values when this store's master key was loaded and awaits its first sign-on."""
        if self.master_file is None:
            return None
        kept = self.master_file.waiting()
        return kept if kept is not None and kept[1] == self.master_check_value else None

    def _way_back(self) -> str:
        kept = self._waiting()
        if kept is None:
            return ""
        previous = "the development key" if kept[0] == "development" else f"the previous master key {kept[0]}"
        return (f" under the newly loaded master key {kept[1]}, which the acquirer does not know; {previous} is kept: "
                f"`keys restore-previous` on the console puts it back (then restart and sign on)")

    def _confirm_master_key(self) -> None:
        """Working keys arrived under a newly loaded master key: it is in force, the previous one goes."""
        master = self.master_file
        if master is None or self._waiting() is None:
            return
        try:
            master.confirm(self.master_check_value)
        except OSError as exc:  # the sign-on stands; the previous key stays until the next one
            log.warning("master key %s in force, but the previous one could not be removed: %s",
                        self.master_check_value, exc.strerror or exc)

    def _save(self, wrapped: list[tuple[str, bytes, bytes]], key_mode: str, installed_at: datetime) -> None:
        assert self.path is not None
        record = {"key_mode": key_mode, "installed_at": installed_at.isoformat(),
                  "keys": [{"name": n, "under_tmk": e.hex(), "check": c.hex()} for n, e, c in wrapped]}
        try:  # a power cut leaves the old keys or the new ones: file and directory fsynced
            atomicfile.atomic_write(self.path, json.dumps(record).encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise KeyStoreError(f"cannot save the working-key file {self.path}: {exc.strerror or exc}") from None

    def _load(self) -> None:
        assert self.path is not None
        try:
            record = json.loads(self.path.read_text("utf-8"))
            wrapped = [(k["name"], bytes.fromhex(k["under_tmk"]), bytes.fromhex(k["check"])) for k in record["keys"]]
            installed_at = datetime.fromisoformat(record["installed_at"])
            key_mode = record["key_mode"]
        except (OSError, ValueError, KeyError, TypeError):
            raise KeyStoreError(f"the working-key file {self.path} is unreadable: sign on again") from None
        try:
            self._keys = {name: unwrap_working_key(self._tmk, enc, chk) for name, enc, chk in wrapped}
        except KeyCheckError:
            raise KeyStoreError(f"the working keys in {self.path} do not match the master key: sign on again") from None
        self._check_values = {name: kcv(key).hex().upper() for name, key in self._keys.items()}
        self._installed_at = installed_at
        self.key_mode = key_mode

    # -- using ---------------------------------------------------------------------------------
    def _key(self, name: str) -> bytes:
        key = self._keys.get(name)
        if key is None:
            raise KeyStoreError(f"no {name} key installed: sign on first")
        return key

    @property
    def has_keys(self) -> bool:
        return "mac" in self._keys

    def mac(self, data: bytes) -> bytes:
        from agent.iso8583.dialect import MAC_ALGORITHMS
        return MAC_ALGORITHMS[self.mac_algorithm](self._key("mac"), data)

    def sign(self, dialect: Dialect, msg: Message) -> Message:
        """`msg` with its MAC field set under the MAC key."""
        return dialect.with_mac(self._key("mac"), msg)

    def verify_mac(self, dialect: Dialect, msg: Message) -> bool:
        return dialect.verify_mac(self._key("mac"), msg)

    def pin_block(self, pin: str, pan: str) -> bytes:
        """ISO 9564 format 0 PIN block encrypted under the PIN key."""
        return encrypt_pin_block(self._key("pin"), pin, pan)

    def key_check_values(self) -> dict[str, str]:
        return dict(self._check_values)

    def matches_check_values(self, expected: dict[str, str]) -> bool:
        return all(hmac.compare_digest(self._check_values.get(n, ""), v.upper()) for n, v in expected.items())

    @property
    def installed_at(self) -> datetime | None:
        return self._installed_at

    def keys_age(self, now: datetime | None = None) -> float | None:
        """Seconds since the working keys were installed (None: none installed)."""
        if self._installed_at is None:
            return None
        return ((now or datetime.now(timezone.utc)) - self._installed_at).total_seconds()
