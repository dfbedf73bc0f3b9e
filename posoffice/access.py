"""Who may read the office's web pages: users with one role each, their sessions, and the login lockout.

Roles are a table of what each may do (`ROLES`): a manager reads everything; finance reads too and runs
reconciliations and their claims; an admin manages users and terminals and reads no transactions.  A
password is kept as the terminal keeps its supervisor passwords (`agent.auth.hash_password`: salted scrypt,
checked in constant time).  After `MAX_FAILURES` wrong passwords in a row a user is locked for
`LOCK_MINUTES` (the counter lives in the database, so a restart does not reset it; PCI DSS v4 8.3.4).  A
session is a random token in a cookie, of which only the SHA-256 is stored, with its own CSRF token; it ends
after `IDLE_MINUTES` without a request or `MAX_HOURS` after the login, whichever comes first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TypedDict

import psycopg

from agent.auth import hash_password, verify_password
from posoffice.errors import OfficeError
from posoffice.wire import is_identifier

#: role → what it may do ("read": the Today, Transaction, Days and Reconcile pages and evidence; "reconcile": run a
#: reconciliation and download its claim; "admin": users and terminals)
ROLES = MappingProxyType({
    "manager": frozenset({"read"}),
    "finance": frozenset({"read", "reconcile"}),
    "admin": frozenset({"admin"}),
})
MAX_FAILURES = 5
LOCK_MINUTES = 30
IDLE_MINUTES = 15
MAX_HOURS = 8
MIN_PASSWORD = 10
MAX_PASSWORD = 256
#: a password check costs a scrypt even for a name that does not exist, so timing tells nothing
_DUMMY_HASH = hash_password("not a password of anyone", salt=b"\0" * 16)


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in ROLES[self.role]


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: datetime


class LoginRefused(OfficeError):
    """A login that did not succeed; the message is safe to show on the login page.  `key` and `values` name it
    in the web pages' catalogue (posoffice/web/texts.py), which has it in Chinese too."""

    def __init__(self, key: str, message: str, **values: object):
        super().__init__(message)
        self.key, self.values = key, values


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise OfficeError(f"password: expected {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {len(password)}")


def add_user(conn: psycopg.Connection, name: str, role: str, password: str) -> User:
    if not is_identifier(name):
        raise OfficeError(f"user name {name!r}: expected 1-32 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise OfficeError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    check_password_rules(password)
    try:
        with conn.transaction():
            conn.execute("INSERT INTO users (name, role, password_hash) VALUES (%s, %s, %s)",
                         (name, role, hash_password(password)))
    except psycopg.errors.UniqueViolation:
        raise OfficeError(f"user {name} already exists") from None
    return User(name, role)


class UserRow(TypedDict):
    """One user of `users` (as `posoffice user list --json` prints it)."""

    name: str
    role: str
    failures: int  # wrong passwords in a row since the last good one
    locked_until: str | None  # ISO 8601 while the user is locked out
    created_at: str  # ISO 8601


def users(conn: psycopg.Connection) -> list[UserRow]:
    rows = conn.execute("SELECT name, role, failures, locked_until, created_at FROM users ORDER BY name").fetchall()
    now = _now()
    return [{"name": r[0], "role": r[1], "failures": r[2],
             "locked_until": r[3].isoformat(timespec="seconds") if r[3] and r[3] > now else None,
             "created_at": r[4].isoformat(timespec="seconds")} for r in rows]


def log_in(conn: psycopg.Connection, name: str, password: str, *, now: datetime | None = None) -> tuple[str, Session]:
    """The new session's cookie token and the session; `LoginRefused` saying why not (never which part was wrong)."""
    now = now or _now()
    if not is_identifier(name) or not password or len(password) > MAX_PASSWORD:
        verify_password("x", _DUMMY_HASH)
        raise LoginRefused("login_wrong", "wrong user name or password")
    with conn.transaction():
        row = conn.execute("SELECT role, password_hash, failures, locked_until FROM users WHERE name = %s FOR UPDATE",
                           (name,)).fetchone()
        if row is None:
            verify_password(password, _DUMMY_HASH)
            raise_after = LoginRefused("login_wrong", "wrong user name or password")
        elif row[3] is not None and row[3] > now:
            until = row[3].astimezone().strftime('%H:%M')
            raise_after = LoginRefused("login_locked", f"user {name} is locked after {MAX_FAILURES} wrong passwords "
                                       f"until {until}; an admin or the time unlocks it", name=name, n=MAX_FAILURES,
                                       until=until)
        elif not verify_password(password, row[1]):
            failures = row[2] + 1
            if failures >= MAX_FAILURES:
                until = now + timedelta(minutes=LOCK_MINUTES)
                conn.execute("UPDATE users SET failures = 0, locked_until = %s WHERE name = %s", (until, name))
                raise_after = LoginRefused("login_now_locked", f"wrong password; user {name} is now locked for "
                                           f"{LOCK_MINUTES} minutes", name=name, minutes=LOCK_MINUTES)
            else:
                conn.execute("UPDATE users SET failures = %s WHERE name = %s", (failures, name))
                raise_after = LoginRefused("login_wrong", "wrong user name or password")
        else:
            conn.execute("UPDATE users SET failures = 0, locked_until = NULL WHERE name = %s", (name,))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires = now + timedelta(hours=MAX_HOURS)
            conn.execute("DELETE FROM sessions WHERE expires_at < %s OR seen_at < %s",
                         (now, now - timedelta(minutes=IDLE_MINUTES)))
            conn.execute("INSERT INTO sessions (token_sha256, user_name, csrf, created_at, seen_at, expires_at) "
                         "VALUES (%s, %s, %s, %s, %s, %s)", (_digest(token), name, csrf, now, now, expires))
            return token, Session(User(name, row[0]), csrf, expires)
    raise raise_after  # after the commit: the failure counter is kept


def session_of(conn: psycopg.Connection, token: str | None, *, now: datetime | None = None) -> Session | None:
    """The live session a cookie names (its idle clock restarted), or None."""
    if not token or len(token) > 100:
        return None
    now = now or _now()
    with conn.transaction():
        row = conn.execute(
            "UPDATE sessions s SET seen_at = %(now)s FROM users u WHERE s.token_sha256 = %(token)s "
            "AND u.name = s.user_name AND s.expires_at > %(now)s AND s.seen_at > %(idle)s "
            "RETURNING u.name, u.role, s.csrf, s.expires_at",
            {"now": now, "token": _digest(token), "idle": now - timedelta(minutes=IDLE_MINUTES)}).fetchone()
    return None if row is None else Session(User(row[0], row[1]), row[2], row[3])


def log_out(conn: psycopg.Connection, token: str | None) -> None:
    if token:
        with conn.transaction():
            conn.execute("DELETE FROM sessions WHERE token_sha256 = %s", (_digest(token),))


def unlock(conn: psycopg.Connection, name: str) -> None:
    with conn.transaction():
        if conn.execute("UPDATE users SET failures = 0, locked_until = NULL WHERE name = %s", (name,)).rowcount == 0:
            raise OfficeError(f"no user {name}")


def same_token(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["ROLES", "User", "UserRow", "Session", "LoginRefused", "add_user", "users", "log_in", "session_of",
           "log_out", "unlock", "same_token", "check_password_rules"]
