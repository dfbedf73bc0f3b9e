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

The console (`config set`), the control API and the keypad (through the control API) all ask
`check_setting` / `OPERATION_ROLES` here, and nowhere else.
"""

from __future__ import annotations

from agent.errors import UsageError

ROLES = ("cashier", "supervisor", "technician")

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

#: control-API operation → the role whose password it needs
OPERATION_ROLES: dict[str, str] = {
    "ping": "cashier", "status": "cashier", "sale": "cashier", "signon": "cashier", "echo": "cashier",
    "lookup": "cashier", "receipt": "cashier", "reversals": "cashier", "duplicates": "cashier",
    "reversal_retry": "cashier", "export": "cashier",
    "void": "supervisor", "refund": "supervisor", "correct": "supervisor", "duplicates_fix": "supervisor",
    "settle": "supervisor", "reversal_handled": "supervisor",
    "log_level": "technician", "console_event": "technician",
    # the pre-authorization family: the defaults of `[preauth] supervisor_*` (see CONFIGURED_ROLES)
    "preauth": "supervisor", "preauth_void": "supervisor", "preauth_release": "supervisor",
    "preauth_complete": "cashier", "completion_void": "supervisor", "preauth_list": "cashier",
    # `posagent reconcile` journals its run (the statement check changes no money)
    "reconcile_record": "cashier",
    # open multi-step fixes: anyone may list them; closing one on purpose is the supervisor's
    "chains": "cashier", "chain_close": "supervisor",
    # payment codes: the sale and the cashier's CANCEL while the customer confirms; a correction is money back
    "wallet_sale": "cashier", "wallet_cancel": "cashier", "wallet_correct": "supervisor",
}

#: operations whose role the installation chooses: op → the `[section] key` that, when true, asks the supervisor
CONFIGURED_ROLES: dict[str, tuple[str, str]] = {
    "preauth": ("preauth", "supervisor_preauth"), "preauth_void": ("preauth", "supervisor_preauth"),
    "preauth_release": ("preauth", "supervisor_preauth"), "preauth_complete": ("preauth", "supervisor_completion"),
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


#: console events written before anyone logged in (the console cannot prove a role for them)
UNAUTHENTICATED_CONSOLE_EVENTS = ("login_failed", "login_locked")


def role_for_operation(op: str, args: dict | None = None, cfg=None) -> str | None:
    """The role whose password `op` needs with these arguments and configuration (None: no such operation)."""
    args = args or {}
    if op in CONFIGURED_ROLES and cfg is not None:
        section, key = CONFIGURED_ROLES[op]
        return "supervisor" if cfg[section][key] else "cashier"
    if op == "settle" and not args.get("confirm"):
        return "cashier"  # the totals preview changes nothing
    if op == "console_event" and args.get("kind") in UNAUTHENTICATED_CONSOLE_EVENTS:
        return "cashier"
    return OPERATION_ROLES.get(op)


def table_markdown() -> str:
    """The roles table for the README (a test keeps the README's copy in step)."""
    lines = ["| Role | Operations | Settings it may change |", "|---|---|---|"]
    for role in ROLES:
        ops = ", ".join(sorted(op for op, r in OPERATION_ROLES.items() if r == role))
        settings = ", ".join(f"`{s}`" for s in sorted(SETTINGS[role])) or "none"
        lines.append(f"| {role} | {ops} | {settings} |")
    return "\n".join(lines)
