"""Operator passwords (supervisor, technician): salted scrypt hashes and a persistent lockout.

PCI DSS v4 8.3: only a salted, slow hash is stored; comparison is constant-time; after
`max_attempts` failures the role is locked for `lockout_minutes`, and the failure counter lives in
durable storage (the journal's state table) so a power cycle does not reset it.  The password itself
is never logged, echoed or stored.

Failures are counted per source (`SOURCES`: the control socket, the serial console), so guesses on one
door lock that door only: a program on the control socket cannot lock the technician out of the console.
A refusal names the role, the source and the clock time the lock ends, in the terminal's language
(`[terminal] language`): the keypad and the console show it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from functools import partial
from typing import Callable, Protocol

from agent import catalogue
from agent.errors import PosagentError
from agent.localtime import local_time

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

#: what a refusal says, key → (English, Chinese); roles and sources by their names below
TEXTS: catalogue.Texts = {
    "unset": ("no {role} password is set: create one with `posagent passwd --role {role_id}` and put the hash in "
              "the configuration", "未设置{role}密码：请用 `posagent passwd --role {role_id}` 生成，并把散列值写入配置"),
    "locked": ("{role} functions are locked{where} after too many wrong passwords, until {until}; try again in "
               "{minutes} min", "{role}密码错误次数过多，{role}功能已锁定{where}，至 {until}；请在 {minutes} 分钟后重试"),
    "needed": ("this needs the {role} password", "需要{role}密码"),
    "now_locked": ("wrong {role} password; {role} functions are now locked for {minutes} min{where}, until {until}",
                   "{role}密码错误；{role}功能现已锁定 {minutes} 分钟{where}，至 {until}"),
    "wrong": ("wrong {role} password ({left} attempt{s} left)", "{role}密码错误（还可尝试 {left} 次）"),
    "where": (" on {source}", "（{source}）"),
    "until": ("until {until}", "至 {until}"),
    "role.supervisor": ("supervisor", "主管"), "role.technician": ("technician", "技术员"),
    "role.custodian1": ("custodian1", "密钥保管员1"), "role.custodian2": ("custodian2", "密钥保管员2"),
    "source.control": (SOURCES["control"], "控制接口"), "source.console": (SOURCES["console"], "串口控制台"),
}


#: a refusal's words in `language`, its fields filled in: `say(language, key, **values)`
say = partial(catalogue.say, TEXTS)


def clock_time(epoch: float) -> str:
    """The local wall-clock time a lock ends, as the operator reads it on a screen."""
    return local_time(epoch, "%H:%M")


class PasswordGate:
    """Checks one role's password with a durable failure counter and a timed lock, for one source."""

    def __init__(self, role: str, stored_hash: str, store: StateStore, *, clock: Callable[[], float],
                 max_attempts: int = 5, lockout_minutes: int = 30, on_event: Callable[[str, dict[str, object]], None] | None = None,
                 source: str = "", language: str = "en"):
        if source and source not in SOURCES:
            raise ValueError(f"unknown password source {source!r} (known: {', '.join(SOURCES)})")
        self.role = role
        self.source = source
        self.language = language
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
        """" on the control socket" ("（控制接口）"), or nothing for a gate of no particular source."""
        return self._say("where", source=self._say(f"source.{self.source}")) if self.source else ""

    def _say(self, key: str, **values: object) -> str:
        role = f"role.{self.role}"
        return say(self.language, key, role=say(self.language, role) if role in TEXTS else self.role,
                   role_id=self.role, **values)

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
        ends = self._say("until", until=clock_time(until))
        if self.language == "zh":
            return f"{self._say('source.' + self.source)}，{ends}" if self.source else ends
        return f"{self.where.strip()}, {ends}".lstrip(", ")

    def check(self, password: str | None) -> None:
        """Return quietly when right; raise `AuthError` saying what to do otherwise."""
        if not self._hash:
            raise AuthError(self._say("unset"))
        remaining = self.locked_for()
        if remaining > 0:
            minutes = int(remaining // 60) + 1
            raise AuthError(self._say("locked", where=self.where, until=clock_time(self.state().locked_until),
                                      minutes=minutes))
        if password is None:
            raise AuthError(self._say("needed"))
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
            raise AuthError(self._say("now_locked", minutes=self._lock_seconds // 60, where=self.where,
                                      until=clock_time(until)))
        self._save(LockState(failures, 0.0))
        self._on_event("auth_failed", {"role": self.role, "failures": failures, **source})
        left = self._max - failures
        raise AuthError(self._say("wrong", left=left, s="s" if left != 1 else ""))
