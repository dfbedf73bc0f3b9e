"""Separation of duties: which role may change which setting and run which operation — one table.

Three roles run operations: the **cashier** (no password: sales, look-ups, reprints), the **supervisor**
(money going back out: void, refund, corrections, settlement, reversals marked handled; and the money
limits: the floor limit and the pre-auth tolerance, each bounded) and the **technician** (the serial
console: reader, console and journal upkeep settings, log level, running the key ceremony).  Two more
hold the terminal master key between them: **custodian1** and **custodian2** each log in on the console
during `keys load` to enter their own component (split knowledge, dual control: see `agent.keys.load`).
A role sets its own password and nobody else's; the first password of each role is put in the
configuration file at installation (`posagent passwd --role ROLE` prints the line).

Settings that decide *where* the daemon reads and writes (paths, the control socket and its mode),
*where* the acquirer link goes and whether it is encrypted (host, port, TLS and its files), the working
keys' strength (`keys.key_mode`) and the custodians' passwords are installation settings: no role
changes them at run time; they are edited in the file by whoever installs the terminal.  Otherwise the
one person at the console could point the terminal at a host that holds the key they helped load.

The console (`config set`) asks `check_setting` here; who may run each operation is its row in the
operation registry (`agent.registry`: `role`, `configured_by` for the pre-auth family, and `raised` for a
keyed sale).
"""

from __future__ import annotations

from agent.errors import UsageError
from agent.operation import ROLES
from agent.registry import OPERATIONS

#: the key custodians: each enters one master key component, in this order (`keys load`)
KEY_CUSTODIANS = ("custodian1", "custodian2")
#: every role of the table: those that run operations (the registry's), then the key custodians
ALL_ROLES = (*ROLES, *KEY_CUSTODIANS)

#: role → the settings (``section.key`` or ``section.*``) it may change at run time
SETTINGS: dict[str, frozenset[str]] = {
    "cashier": frozenset(),
    # money limits are the supervisor's, each bounded in the schema (see its help text)
    "supervisor": frozenset({"supervisor.password_hash", "guards.*", "emv.floor_limit", "preauth.tolerance_percent",
                               "offline.max_amount", "offline.max_total", "offline.max_count",
                               "offline.max_age_hours", "offline.card_types"}),
    "technician": frozenset({
        "terminal.*",
        "acquirer.dialect", "acquirer.tpdu", "acquirer.header",
        "acquirer.connect_timeout", "acquirer.response_timeout", "acquirer.reversal_retries",
        "acquirer.max_frame_bytes",
        "keys.signon_max_age_hours",
        "journal.retention_days", "journal.busy_timeout_ms",
        "card_reader.reader", "card_reader.card_timeout", "card_reader.fallback", "card_reader.apdu_timeout",
        "console.baudrate", "console.password_hash", "console.idle_timeout_minutes",
        "daemon.log_level",
        "emv.tac_denial", "emv.tac_online", "emv.tac_default", "emv.tacs", "emv.params_check_seconds",
        "preauth.validity_days", "preauth.advice_type",
        "scanner.baudrate", "scanner.scan_timeout", "scanner.partial_timeout",
        "wallet.*", "office.interval",
    }),
}
SETTINGS["supervisor"] = SETTINGS["supervisor"] | {"settlement_fees.*"}
SETTINGS.update({custodian: frozenset() for custodian in KEY_CUSTODIANS})

#: settings no role changes at run time, with the one-line reason shown when one tries
INSTALLATION_ONLY: dict[str, str] = {
    "journal.path": "a path",
    "journal.fingerprint_key_file": "a path",
    "journal.check_whole_at_start": "how much of the journal is checked at every start",
    "reconcile.statements_dir": "a path",
    "office.url": "where the journal is shipped",
    "office.secret_file": "a path",
    "office.ca_file": "whom the terminal trusts as its back office",
    "refunds.office_unreachable": "whether a refund goes ahead when the back office cannot check it",
    "daemon.control_socket": "a path",
    "daemon.log_file": "a path",
    "daemon.socket_mode": "who may use the control socket",
    "console.may_start_daemon": "whether the console may start the daemon",
    "acquirer.host": "where the acquirer link goes",
    "acquirer.port": "where the acquirer link goes",
    "acquirer.tls": "whether the acquirer link is encrypted",
    "acquirer.tls_ca_file": "a path",
    "acquirer.tls_cert_file": "a path",
    "acquirer.tls_key_file": "a path",
    "console.port": "a device path",
    "keys.tmk": "the terminal master key (load it with `keys load`)",
    "keys.tmk_file": "a path",
    "keys.device_key_file": "a path",
    "keys.key_mode": "the working keys' strength; single DES is refused unless the dialect requires it",
    "keys.custodian1_hash": "a key custodian's password (`posagent passwd --role custodian1`)",
    "keys.custodian2_hash": "a key custodian's password (`posagent passwd --role custodian2`)",
    "card_reader.manual_entry": "whether cards may be keyed in",
    "card_reader.test_cards": "a path",
    "supervisor.max_attempts": "the supervisor lockout policy",
    "supervisor.lockout_minutes": "the supervisor lockout policy",
    "console.max_attempts": "the console lockout policy",
    "console.lockout_minutes": "the console lockout policy",
    "emv.ca_keys": "a path",
    "scanner.port": "a device path",
    "preauth.supervisor_preauth": "which operations need the supervisor",
    "preauth.supervisor_completion": "which operations need the supervisor",
    "offline.enabled": "whether sales are stored while the bank cannot be reached",
    "offline.entry_modes": "how a card stored offline may be read",
    "offline.after_unanswered": "when the link counts as down",
    "offline.retry_seconds": "how often what is owed is tried again",
}

#: role → the setting (section, key) that holds its password hash
#: a supervisor password is keyed on the cashier's keypad too: ASCII digits only, this many
SUPERVISOR_PASSWORD_DIGITS = range(6, 13)
#: every other role types on a keyboard (the console, the CLI): at least this many characters
MIN_PASSWORD_LENGTH = 6


def password_problem(role: str, text: str) -> str | None:
    """Why `text` cannot be `role`'s password (None: it can) — the one rule, for `posagent passwd`, the
    keypad's password screen and the console."""
    if role == "supervisor":
        if not (text.isascii() and text.isdigit() and len(text) in SUPERVISOR_PASSWORD_DIGITS):
            return (f"a supervisor password is {min(SUPERVISOR_PASSWORD_DIGITS)} to {max(SUPERVISOR_PASSWORD_DIGITS)} "
                    f"digits (0-9): it is keyed on the cashier's keypad too")
        return None
    if len(text) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    return None


PASSWORD_SETTINGS: dict[str, tuple[str, str]] = {
    "supervisor": ("supervisor", "password_hash"),
    "technician": ("console", "password_hash"),
    **{custodian: ("keys", f"{custodian}_hash") for custodian in KEY_CUSTODIANS},
}


def owner_of_password(section: str, key: str) -> str | None:
    """The role whose password a key holds (None for any other key)."""
    return next((role for role, place in PASSWORD_SETTINGS.items() if place == (section, key)), None)


def may_set(role: str, section: str, key: str) -> bool:
    allowed = SETTINGS.get(role, frozenset())
    return f"{section}.{key}" in allowed or f"{section}.*" in allowed


def check_setting(role: str, section: str, key: str) -> None:
    """Return quietly when `role` may change ``section.key``; a one-line UsageError saying why not otherwise."""
    name = f"{section}.{key}"
    if name in INSTALLATION_ONLY:
        raise UsageError(f"{name} is an installation setting ({INSTALLATION_ONLY[name]}): it is changed only in "
                         f"the configuration file at installation, not at run time")
    owner = owner_of_password(section, key)
    if owner is not None and owner != role:
        raise UsageError(f"{name} is the {owner}'s password: only the {owner} sets it")
    if not may_set(role, section, key):
        holders = [r for r in ALL_ROLES if may_set(r, section, key)]
        who = " or the ".join(holders) if holders else "no role"
        raise UsageError(f"{name} may be changed by the {who}, not the {role}")


def table_markdown() -> str:
    """The roles table for docs/security.md (a test keeps that copy in step); an operation followed by a
    setting needs the supervisor when that setting is true, the cashier otherwise; one followed by an argument
    needs that role with the argument given (a keyed sale).  The key custodians run
    no operation of the registry: their row says what they do instead."""
    lines = ["| Role | Operations | Settings it may change |", "|---|---|---|"]
    for role in ROLES:
        ops = ", ".join(sorted([op + (f" (`{'.'.join(row.configured_by)}`)" if row.configured_by else "")
                                for op, row in OPERATIONS.items() if row.role == role]
                               + [f"{op} (`{row.raised[0]}`)" for op, row in OPERATIONS.items()
                                  if row.raised is not None and row.raised[1] == role]))
        settings = ", ".join(f"`{s}`" for s in sorted(SETTINGS[role])) or "none"
        lines.append(f"| {role} | {ops} | {settings} |")
    for number, role in enumerate(KEY_CUSTODIANS, 1):
        lines.append(f"| {role} | — (logs in during the console's `keys load` to enter master key component "
                     f"{number}, and only that) | none |")
    return "\n".join(lines)
