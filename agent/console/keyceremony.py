"""`keys load`: the master key ceremony over the console, under split knowledge and dual control.

The technician starts it; then each key custodian in turn logs in with their own password
(``[keys] custodian1_hash``, ``custodian2_hash``; failures count towards a lock as the console's do) to
type only their own component (hidden) and the check value from its form, and sees only that
component's check value.  The screen is cleared before the next custodian logs in.  A password that
also opens another custodian's login is refused: one person would hold both components.  The combined
key's check value is shown at the end and confirmed from the key form; the ceremony is journaled
(`console.keys_loaded`: who entered which component when, and the check values — never a component).
The sans-IO part is `agent.keys.load.MasterKeyLoad`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Callable

from agent import roles
from agent.auth import AuthError, PasswordGate, verify_password
from agent.consolefiles import FileStateStore, auth_state_path
from agent.console.session import Question, Reply
from agent.console.texts import say
from agent.errors import UsageError
from agent.keys.load import KeyLoadError, MasterKeyFile, MasterKeyLoad, check_value
from agent.keys.store import default_key_file

if TYPE_CHECKING:
    from agent.config import Config
    from agent.console.context import ConsoleContext

#: cursor home, clear the screen and its scrollback: the next custodian sees nothing of the one before
CLEAR_SCREEN = "\x1b[H\x1b[2J\x1b[3J"


def master_key_file(cfg: Config) -> MasterKeyFile:
    return MasterKeyFile(cfg.path("keys", "tmk_file"), cfg.path("keys", "device_key_file"))


def custodian_hash(cfg: Config, custodian: str) -> str:
    section, key = roles.PASSWORD_SETTINGS[custodian]
    stored: str = cfg[section][key]
    return stored


def custodian_gate(cfg: Config, custodian: str, *, clock: Callable[[], float] = time.time) -> PasswordGate:
    """A custodian's login: their own hash, a failure counter beside the technician's, the console's lock policy."""
    store = FileStateStore(auth_state_path(cfg.path("journal", "path")))
    return PasswordGate(custodian, custodian_hash(cfg, custodian), store, clock=clock,
                        max_attempts=cfg.console.max_attempts, lockout_minutes=cfg.console.lockout_minutes,
                        language=cfg.terminal.language)


def check_custodians(cfg: Config, language: str = "en") -> None:
    """Each custodian has a password of their own in the configuration; a one-line UsageError otherwise."""
    hashes: dict[str, str] = {}  # custodian → password hash
    for custodian in roles.KEY_CUSTODIANS:
        stored = custodian_hash(cfg, custodian)
        if not stored:
            raise UsageError(say(language, "key.no_custodian", role=custodian))
        for other, other_hash in hashes.items():
            if other_hash == stored:
                raise UsageError(say(language, "key.same_hash", first=other, second=custodian))
        hashes[custodian] = stored


def load_master_key(ctx: ConsoleContext, args: list[str], *, clock: Callable[[], float] = time.time) -> Reply:
    language = ctx.cfg.terminal.language
    t = partial(say, language)
    if args:
        raise UsageError(t("u.keys_load"))
    check_custodians(ctx.cfg, language)
    ceremony = MasterKeyLoad(roles.KEY_CUSTODIANS)

    def log_in(custodian: str, password: str) -> None:
        try:
            custodian_gate(ctx.cfg, custodian, clock=clock).check(password or None)
        except AuthError as exc:
            ctx.audit("login_failed", {"role": custodian, "during": "keys load"})
            detail = str(exc)  # the gate speaks the terminal's language
            raise KeyLoadError(t("key.stopped", detail=detail)) from None
        for other in roles.KEY_CUSTODIANS:
            if other != custodian and verify_password(password, custodian_hash(ctx.cfg, other)):
                raise KeyLoadError(t("key.one_person", role=custodian, other=other))

    def ask_login(shown: str) -> Reply:
        custodian, number = ceremony.next_custodian, ceremony.next_number
        assert custodian is not None, "a login is asked for only while components are missing"

        def with_password(password: str) -> Reply:
            log_in(custodian, password)
            return ask_component(custodian)

        return Reply(shown, ask=Question(t("key.custodian_password", number=number, role=custodian), with_password,
                                         secret=True))

    def ask_component(custodian: str) -> Reply:
        number = ceremony.next_number

        def with_component(component: str) -> Reply:
            def with_check_value(form_value: str) -> Reply:
                actual = ceremony.add(custodian, component, form_value)
                shown = t("key.accepted", number=number, kcv=actual)
                if ceremony.complete:
                    return ask_combined(shown)
                return Reply(shown, ask=Question(t("key.hand_over", role=custodian, next=ceremony.next_custodian),
                                                 lambda _: ask_login(CLEAR_SCREEN)))

            return Reply(ask=Question(t("key.form_kcv", number=number), with_check_value))

        return Reply(t("key.custodian_in", role=custodian, number=number),
                     ask=Question(t("key.component", number=number, count=ceremony.count), with_component,
                                  secret=True))

    def ask_combined(shown: str) -> Reply:
        combined = check_value(ceremony.combined())

        def with_confirmation(form_value: str) -> Reply:
            tmk = ceremony.confirm(form_value)
            kcv = master_key_file(ctx.cfg).store(tmk)
            # working keys arrived encrypted under the old master key: they go, the next sign-on brings new ones
            default_key_file(ctx.cfg).unlink(missing_ok=True)
            ctx.audit("keys_loaded", {**ceremony.record(kcv), "by": "technician"})
            return Reply(t("key.loaded", kcv=kcv, path=ctx.cfg.path("keys", "tmk_file")))

        return Reply(f"{shown}\n{t('key.combined', kcv=combined)}",
                     ask=Question(t("key.combined_form"), with_confirmation))

    return ask_login(t("key.dual", count=ceremony.count))
