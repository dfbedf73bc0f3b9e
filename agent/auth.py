"""Operator passwords (supervisor, technician): salted scrypt hashes and a persistent lockout.

PCI DSS v4 8.3: only a salted, slow hash is stored; comparison is constant-time; after
`max_attempts` failures the role is locked for `lockout_minutes`, and the failure counter lives in
durable storage (the journal's state table) so a power cycle does not reset it.  The password itself
is never logged, echoed or stored.

Failures are counted per source (`SOURCES`: the control socket, the serial console), so guesses on one
door lock that door only: a program on the control socket cannot lock the technician out of the console.
A refusal names the role, the source and the clock time the lock ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from agent.errors import PosagentError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_PREFIX = "scrypt"


class AuthError(PosagentError):
    """A wrong password or a locked role; the message tells the operator what to do."""

    exit_status = 3


class StateStore(Protocol):
    def get_state(self, key: str) -> str | None: ...
    def set_state(self, key: str, value: str) -> None: ...


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$16384$8$1$<salt hex>$<hash hex>``."""
    if not password:
        raise AuthError("the password must not be empty")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of `password` against a stored hash; a malformed hash never matches."""
    try:
        prefix, n, r, p, salt_hex, digest_hex = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = bytes.fromhex(digest_hex)
        digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected), maxmem=2**26)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


@dataclass(frozen=True)
class LockState:
    failures: int = 0
    locked_until: float = 0.0


#: where a password is typed → how a refusal names it
SOURCES = {"control": "the control socket", "console": "the serial console"}


def clock_time(epoch: float) -> str:
    """The local wall-clock time a lock ends, as the operator reads it on a screen."""
    return time.strftime("%H:%M", time.localtime(epoch))


class PasswordGate:
    """Checks one role's password with a durable failure counter and a timed lock, for one source."""

    def __init__(self, role: str, stored_hash: str, store: StateStore, *, clock: Callable[[], float],
                 max_attempts: int = 5, lockout_minutes: int = 30, on_event: Callable[[str, dict], None] | None = None,
                 source: str = ""):
        if source and source not in SOURCES:
            raise ValueError(f"unknown password source {source!r} (known: {', '.join(SOURCES)})")
        self.role = role
        self.source = source
        self._hash = stored_hash
        self._store = store
        self._clock = clock
        self._max = max_attempts
        self._lock_seconds = lockout_minutes * 60
        self._on_event = on_event or (lambda kind, details: None)

    @property
    def _key(self) -> str:
        return f"auth.{self.role}.{self.source}" if self.source else f"auth.{self.role}"

    @property
    def where(self) -> str:
        """" on the control socket", or nothing for a gate of no particular source."""
        return f" on {SOURCES[self.source]}" if self.source else ""

    def state(self) -> LockState:
        raw = self._store.get_state(self._key)
        if raw is None and self.source:  # a lock taken before failures were counted per source still holds
            raw = self._store.get_state(f"auth.{self.role}")
        if not raw:
            return LockState()
        data = json.loads(raw)
        return LockState(int(data.get("failures", 0)), float(data.get("locked_until", 0.0)))

    def _save(self, state: LockState) -> None:
        self._store.set_state(self._key, json.dumps({"failures": state.failures, "locked_until": state.locked_until}))

    def locked_for(self) -> float:
        """Seconds the role stays locked (0 when not locked)."""
        return max(0.0, self.state().locked_until - self._clock())

    def lock_note(self) -> str:
        """Where and until when the role is locked ("on the serial console, until 14:32"), or ""."""
        until = self.state().locked_until
        if until <= self._clock():
            return ""
        return f"{self.where.strip()}, until {clock_time(until)}".lstrip(", ")

    def check(self, password: str | None) -> None:
        """Return quietly when right; raise `AuthError` saying what to do otherwise."""
        if not self._hash:
            raise AuthError(f"no {self.role} password is set: create one with `posagent passwd --role {self.role}` "
                            f"and put the hash in the configuration")
        remaining = self.locked_for()
        if remaining > 0:
            minutes = int(remaining // 60) + 1
            until = clock_time(self.state().locked_until)
            raise AuthError(f"{self.role} functions are locked{self.where} after too many wrong passwords, "
                            f"until {until}; try again in {minutes} min")
        if password is None:
            raise AuthError(f"this needs the {self.role} password")
        state = self.state()
        if verify_password(password, self._hash):
            if state.failures:
                self._save(LockState())
            return
        failures = state.failures + 1
        source = {"source": self.source} if self.source else {}
        if failures >= self._max:
            until = self._clock() + self._lock_seconds
            self._save(LockState(0, until))
            self._on_event("auth_locked", {"role": self.role, "minutes": self._lock_seconds // 60, **source})
            raise AuthError(f"wrong {self.role} password; {self.role} functions are now locked for "
                            f"{self._lock_seconds // 60} min{self.where}, until {clock_time(until)}")
        self._save(LockState(failures, 0.0))
        self._on_event("auth_failed", {"role": self.role, "failures": failures, **source})
        left = self._max - failures
        raise AuthError(f"wrong {self.role} password ({left} attempt{'s' if left != 1 else ''} left)")
