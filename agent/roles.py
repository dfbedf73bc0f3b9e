"""Separation of duties: which role may change which setting and run which operation — one table.

Three roles: the **cashier** (no password: sales, look-ups, reprints), the **supervisor** (money going
back out: void, refund, corrections, settlement, reversals marked handled) and the **technician** (the
serial console: link, reader, console and journal upkeep settings, log level, key loading).  A role
sets its own password and nobody else's; the first password of each role is put in the configuration
file at installation (`posagent passwd --role ROLE` prints the line).

Settings that decide *where* the daemon reads and writes (paths, the control socket and its mode), and
whether the acquirer link is encrypted (TLS and its files), are installation settings: no role changes
them at run time; they are edited in the file by whoever installs the terminal.  The terminal master
key is never a setting: the technician loads it as components (`keys load`, see `agent.keyload`).

The console (`config set`) asks `check_setting` here; who may run each operation is its row in the
operation registry (`agent.registry`: `role`, and `configured_by` for the pre-auth family).
"""

from __future__ import annotations

from agent.errors import UsageError
from agent.registry import OPERATIONS, ROLES

#: role → the settings (``section.key`` or ``section.*``) it may change at run time
SETTINGS: dict[str, frozenset[str]] = {
    "cashier": frozenset(),
    "supervisor": frozenset({"supervisor.password_hash", "guards.*"}),
    "technician": frozenset({
        "terminal.*",
        "acquirer.host", "acquirer.port", "acquirer.dialect", "acquirer.tpdu", "acquirer.header",
        "acquirer.connect_timeout", "acquirer.response_timeout", "acquirer.reversal_retries",
        "acquirer.max_frame_bytes",
        "keys.key_mode", "keys.signon_max_age_hours",
        "journal.retention_days", "journal.busy_timeout_ms",
        "card_reader.reader", "card_reader.card_timeout", "card_reader.fallback", "card_reader.apdu_timeout",
        "console.baudrate", "console.password_hash", "console.idle_timeout_minutes",
        "daemon.log_level",
        "emv.floor_limit", "emv.tac_denial", "emv.tac_online", "emv.tac_default", "emv.tacs",
        "preauth.tolerance_percent", "preauth.validity_days", "preauth.advice_type",
        "scanner.baudrate", "scanner.scan_timeout", "scanner.partial_timeout",
        "wallet.*",
    }),
}
SETTINGS["supervisor"] = SETTINGS["supervisor"] | {"settlement_fees.*"}

#: settings no role changes at run time, with the one-line reason shown when one tries
INSTALLATION_ONLY: dict[str, str] = {
    "journal.path": "a path",
    "journal.fingerprint_key_file": "a path",
    "journal.check_whole_at_start": "how much of the journal is checked at every start",
    "daemon.control_socket": "a path",
    "daemon.log_file": "a path",
    "daemon.socket_mode": "who may use the control socket",
    "acquirer.tls": "whether the acquirer link is encrypted",
    "acquirer.tls_ca_file": "a path",
    "acquirer.tls_cert_file": "a path",
    "acquirer.tls_key_file": "a path",
    "console.port": "a device path",
    "keys.tmk": "the terminal master key (load it with `keys load`)",
    "keys.tmk_file": "a path",
    "keys.device_key_file": "a path",
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
}

def owner_of_password(section: str, key: str) -> str | None:
    """The role whose password a ``*.password_hash`` key holds (None for any other key)."""
    if key != "password_hash":
        return None
    return {"supervisor": "supervisor", "console": "technician"}.get(section)


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
        holders = [r for r in ROLES if may_set(r, section, key)]
        who = " or the ".join(holders) if holders else "no role"
        raise UsageError(f"{name} may be changed by the {who}, not the {role}")


def table_markdown() -> str:
    """The roles table for the README (a test keeps the README's copy in step); an operation followed by a
    setting needs the supervisor when that setting is true, the cashier otherwise."""
    lines = ["| Role | Operations | Settings it may change |", "|---|---|---|"]
    for role in ROLES:
        ops = ", ".join(sorted(op + (f" (`{'.'.join(row.configured_by)}`)" if row.configured_by else "")
                               for op, row in OPERATIONS.items() if row.role == role))
        settings = ", ".join(f"`{s}`" for s in sorted(SETTINGS[role])) or "none"
        lines.append(f"| {role} | {ops} | {settings} |")
    return "\n".join(lines)
