"""The settings: every key posagent.toml may hold, declared once in `SCHEMA` with its type, default, meaning
and check.

`agent.config` reads a file against these declarations (and writes the reference docs/configuration.md
holds); the checks (`agent.settingchecks`) return the reason a value is wrong, which `agent.config` words as
``acquirer.port: expected an integer from 1 to 65535, got "x"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from agent.errors import ConfigError, UsageError
from agent import tacs
from agent.cardtypes import CARD_TYPES
from agent.money import cap_to_minor, parse_amount, percent_to_ppm
from agent.settingchecks import (above_zero, amount_text, int_range, matching, one_of, one_of_ints, parsed_by,
                                 schedule_seconds, scrypt_hash, seconds, word_list)


@dataclass(frozen=True)
class Setting:
    """One key of the configuration: its type, default and a one-line meaning for docs/configuration.md."""

    kind: type | tuple[type, ...]
    default: Any
    doc: str
    check: Callable[[Any], str | None] | None = None  # returns a reason when the value is bad
    secret: bool = False  # write-only on the technician console; never printed
    required: bool = False


#: how a card may be read for a sale stored offline (`[offline] entry_modes`): the chip (the card's TC vouches
#: for it), the magnetic stripe (fallback included where `[card_reader] fallback` allows it), keyed by a supervisor
OFFLINE_ENTRY_MODES = ("chip", "swipe", "keyed")


def offline_entry_modes(text: str) -> tuple[str, ...]:
    """`[offline] entry_modes` as its words ("chip,swipe" → ("chip", "swipe"))."""
    return word_list(text, OFFLINE_ENTRY_MODES, "chip,swipe")


def offline_card_types(text: str) -> tuple[str, ...]:
    """`[offline] card_types` as its words ("debit" → ("debit",))."""
    return word_list(text, CARD_TYPES, "debit")


#: the settings that are amounts (decimal text), converted to minor units by `minor_units`
AMOUNT_SETTINGS = (("guards", "typical_amount"), ("guards", "max_amount"), ("offline", "max_amount"),
                   ("offline", "max_total"))


def minor_units(values: Any, section: str, key: str, *, path: str | None = None) -> int:
    """An amount setting in minor units of the terminal's currency; a `ConfigError` naming the key when it has
    more decimals than the currency (nothing is rounded or cut)."""
    try:
        return parse_amount(values[section][key], values["terminal"]["currency_exponent"])
    except UsageError as exc:
        raise ConfigError(str(exc), key=f"{section}.{key}", path=path) from None


_HEX16 = matching(r"[0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}", "16, 32 or 48 hex digits (a DES/3DES key)")

SCHEMA: dict[str, dict[str, Setting]] = {
    "terminal": {
        "terminal_id": Setting(str, "10000001", "Terminal id sent in field 41 (8 characters).",
                               matching(r"[ -~]{8}", "8 printable ASCII characters")),
        "merchant_id": Setting(str, "123456789012345", "Merchant id sent in field 42 (15 characters).",
                               matching(r"[ -~]{15}", "15 printable ASCII characters")),
        "merchant_name": Setting(str, "POSAGENT DEMO SHOP", "Name printed on receipts."),
        "currency": Setting(str, "156", "ISO 4217 numeric currency code (field 49); 156 = CNY.",
                            matching(r"[0-9]{3}", "3 digits")),
        "currency_exponent": Setting(int, 2, "Digits after the decimal point in amounts (2 for CNY).",
                                     int_range(0, 3)),
        "language": Setting(str, "en", "Receipt and screen language: en or zh.", one_of("en", "zh")),
        "receipt_width": Setting(int, 32, "Receipt printer width in columns (32 or 42).",
                                 one_of_ints(32, 42)),
    },
    "acquirer": {
        "host": Setting(str, "127.0.0.1", "Acquirer host name or address.",
                        matching(r"[^\s\x00-\x1f]{1,253}", "a host name or address (not empty, no spaces)")),
        "port": Setting(int, 5800, "Acquirer TCP port.", int_range(1, 65535)),
        "dialect": Setting(str, "cup", "Message dialect: cup (UnionPay-style) or iso87.", one_of("cup", "iso87")),
        "tpdu": Setting(str, "6000030000", "TPDU sent before each message (10 hex digits).",
                        matching(r"60[0-9A-Fa-f]{8}", "10 hex digits starting with 60")),
        "header": Setting(str, "613100000000", "6-byte message header (12 hex digits).",
                          matching(r"[0-9A-Fa-f]{12}", "12 hex digits")),
        "connect_timeout": Setting((int, float), 10.0, "Seconds to wait for the TCP connection.", seconds(120)),
        "response_timeout": Setting((int, float), 30.0, "Seconds to wait for an answer before reversing.",
                                    seconds(300)),
        "reversal_retries": Setting(int, 3, "How many times a reversal is sent before it needs manual handling.",
                                    int_range(1, 99)),
        "tls": Setting(bool, False, "Wrap the connection in TLS."),
        "tls_ca_file": Setting(str, "", "CA certificate file that signs the acquirer's certificate (TLS)."),
        "tls_cert_file": Setting(str, "", "Client certificate file, when the acquirer requires one (TLS)."),
        "tls_key_file": Setting(str, "", "Client private key file (TLS)."),
        "max_frame_bytes": Setting(int, 8192, "Largest frame accepted from the host, in bytes.", int_range(64, 65535)),
    },
    "keys": {
        "tmk": Setting(str, "0123456789ABCDEFFEDCBA9876543210",
                       "Development master key in hex (the simulator's), used only until a master key is loaded "
                       "with the console's `keys load`.", _HEX16, secret=True),
        "tmk_file": Setting(str, "~/.posagent/tmk.enc",
                            "The loaded master key, encrypted under the device key (0600)."),
        "device_key_file": Setting(str, "~/.config/posagent/device.key",
                                   "The device key that encrypts the master key (created 0600 on the first "
                                   "`keys load`; keep it off the data directory and its backups)."),
        "key_mode": Setting(str, "003", "Sign-on key mode (60.3): 003 double-length keys, 004 double + track key; "
                            "001 (single DES) is refused unless the dialect offers no double-length keys. "
                            "Installation setting.", one_of("001", "003", "004")),
        "signon_max_age_hours": Setting(int, 24, "Sign on again when the working keys are older than this.",
                                        int_range(1, 24 * 30)),
        "custodian1_hash": Setting(str, "", "Key custodian 1's password as a salted scrypt hash (`posagent passwd "
                                   "--role custodian1`): they log in to enter master key component 1.", scrypt_hash, secret=True),
        "custodian2_hash": Setting(str, "", "Key custodian 2's password (`posagent passwd --role custodian2`): "
                                   "component 2; it must not be custodian 1's.", scrypt_hash, secret=True),
    },
    "journal": {
        "path": Setting(str, "~/.posagent/journal.db", "SQLite journal file."),
        "fingerprint_key_file": Setting(str, "~/.posagent/fingerprint.key",
                                        "File holding the HMAC key for PAN fingerprints (created if missing; keep it apart from the journal)."),
        "retention_days": Setting(int, 400, "Days a settled batch is kept before it is pruned.", int_range(1, 3650)),
        "busy_timeout_ms": Setting(int, 5000, "How long a journal write waits for a lock.", int_range(0, 600000)),
        "check_whole_at_start": Setting(bool, True,
                                        "At every start also check the whole hash chain and every row (in a worker "
                                        "thread while serving); false: only the chain's last 2,000 events, before "
                                        "serving (for test runs that restart thousands of times and check the whole "
                                        "journal themselves)."),
    },
    "guards": {
        "duplicate_window_seconds": Setting(int, 600, "Same card + same amount within this window asks for confirmation.",
                                            int_range(0, 24 * 3600)),
        "unusual_amount_multiple": Setting((int, float), 10.0,
                                           "A sale, payment-code sale or pre-auth of this many times the typical "
                                           "ticket or more asks for confirmation before the card or code is read.",
                                           above_zero(1000, "a multiple")),
        "refund_repeat_seconds": Setting(int, 120, "Same original + same refund amount within this window is a repeat.",
                                         int_range(0, 24 * 3600)),
        "typical_amount": Setting(str, "500", "The typical ticket, in the currency's major unit (text like "
                                  "\"500.00\"), while the terminal has fewer than 5 approved sales; from the 5th on, "
                                  "the median of its latest 50. So a new terminal asks from its first sale.",
                                  amount_text),
        "max_amount": Setting(str, "50000", "The largest sale, payment-code sale or pre-auth, in the currency's major "
                              "unit (text like \"50000.00\"): above it the operation is refused before anything is "
                              "read or sent (the supervisor's setting; a completion keeps `[preauth] "
                              "tolerance_percent`).", amount_text),
    },
    "preauth": {
        "tolerance_percent": Setting(int, 15, "A completion may exceed its pre-auth by at most this percentage "
                                     "(0 to 20; the supervisor's setting).", int_range(0, 20)),
        "validity_days": Setting(int, 30, "Days a pre-auth can be completed; after that the hold has expired.",
                                 int_range(1, 365)),
        "supervisor_preauth": Setting(bool, True, "Pre-auth, pre-auth void and release need the supervisor password."),
        "supervisor_completion": Setting(bool, False, "Completion needs the supervisor password (its void always does)."),
        "advice_type": Setting(str, "24", "Field 60.1 of the offline completion advice (0220; unconfirmed, acquirers differ).",
                               matching(r"[0-9]{2}", "2 digits")),
    },
    "offline": {
        "enabled": Setting(bool, False, "Store-and-forward: while the acquirer cannot be reached, chip sales within the "
                           "limits below are approved with the card (TAC/IAC-default, TC with Y3) and stored, then "
                           "forwarded as advices (0220) when the link is back. False: every sale needs the bank."),
        "max_amount": Setting(str, "250", "The largest sale stored offline, in the currency's major unit (text like "
                              "\"250.00\").", amount_text),
        "max_total": Setting(str, "2000", "The most money stored offline at once (not yet forwarded), in the "
                             "currency's major unit.", amount_text),
        "max_count": Setting(int, 50, "The most sales stored offline at once (1 to 500).", int_range(1, 500)),
        "max_age_hours": Setting(int, 24, "Offline sales stop when the oldest stored one is this old (1 to 72 hours): "
                                 "the bank may refuse what is forwarded late.", int_range(1, 72)),
        "entry_modes": Setting(str, "chip", "How a card may be read for a sale stored offline, a comma-separated "
                               "list: \"chip\" (the card's TC vouches for it), \"swipe\" (the magnetic stripe, and "
                               "the fallback to it where `[card_reader] fallback` allows it; no PIN), \"keyed\" (the "
                               "supervisor's manual entry, with `[card_reader] manual_entry`). A swiped or keyed sale "
                               "is approved by the limits alone and the issuer may decline it when it is forwarded.",
                               parsed_by(offline_entry_modes)),
        "card_types": Setting(str, "debit,credit", "Which cards may be stored offline, a comma-separated list of "
                              "\"debit\" and \"credit\": a UnionPay chip's application names its type (…0101 01 "
                              "debit, 02 credit, 03 quasi-credit, counted as credit), any other card is credit when "
                              "its number starts with one of `[settlement_fees] credit_bins`, else debit.",
                              parsed_by(offline_card_types)),
        "retry_seconds": Setting(int, 60, "The longest wait between tries to forward what is owed (stored sales, "
                                 "reversals, TCs) while the bank does not answer: the first try comes 2 s after, "
                                 "then the wait doubles up to this (2 to 600 s).", int_range(2, 600)),
        "after_unanswered": Setting(int, 3, "The link counts as down after this many requests in a row got no "
                                    "answer (1 to 10), or at once when it cannot connect.", int_range(1, 10)),
    },
    "supervisor": {
        "password_hash": Setting(str, "", "Supervisor password as a salted scrypt hash (`posagent passwd`).",
                                 scrypt_hash, secret=True),
        "max_attempts": Setting(int, 5, "Wrong passwords before supervisor functions lock.", int_range(1, 10)),
        "lockout_minutes": Setting(int, 30, "How long the lock lasts (PCI DSS: at least 30).", int_range(30, 24 * 60)),
    },
    "card_reader": {
        "reader": Setting(str, "Virtual PCD", "Reader name pattern (substring) to select the PC/SC reader."),
        "card_timeout": Setting((int, float), 30.0, "Seconds to wait for a card.", seconds(600)),
        "fallback": Setting(bool, True, "Allow magstripe fallback (60.5 = 2) when the chip fails."),
        "manual_entry": Setting(bool, False, "Allow supervisor-only manual key entry of PAN and expiry."),
        "apdu_timeout": Setting((int, float), 5.0, "Seconds a card may take to answer one command before it counts as mute.",
                                seconds(60)),
        "test_cards": Setting(str, "", "File of named test cards that `--card NAME` reads as swipes, in place of the "
                              "reader (`[[card]]` tables: name, pan, expiry, service_code; the simulator ships "
                              "simulator/data/cards.toml). Empty: `--card` is refused."),
    },
    "emv": {
        "ca_keys": Setting(str, "", "File of certification-authority public keys for offline data authentication "
                           "(empty: none, so SDA/DDA/CDA fail and the TVR says so)."),
        "floor_limit": Setting(int, 0, "Floor limit in minor units: above it the TVR says the floor limit is exceeded "
                               "(0 to 100000, i.e. at most 1,000.00 with 2 decimals; the supervisor's setting).",
                               int_range(0, 100_000)),  # a policy ceiling, far inside 9F1B's 4 binary bytes
        "tac_denial": Setting(str, "0000000000", "Terminal action code - denial (10 hex digits): a TVR bit set here "
                              "declines offline.", matching(r"[0-9A-Fa-f]{10}", "10 hex digits")),
        "tac_online": Setting(str, "DC4004F800", "Terminal action code - online (10 hex digits).",
                              matching(r"[0-9A-Fa-f]{10}", "10 hex digits")),
        "tac_default": Setting(str, "DC4000A800", "Terminal action code - default (10 hex digits), used when the "
                               "host cannot be reached.", matching(r"[0-9A-Fa-f]{10}", "10 hex digits")),
        "params_check_seconds": Setting((int, float), 86400, "Seconds between scheduled checks for newer chip "
                                        "parameters and CA keys (two list queries; a newer set is downloaded and "
                                        "installed between transactions); 0: only at sign-on and when the technician "
                                        "asks. At most 604800 (a week).", schedule_seconds),
        "tacs": Setting(str, tacs.DEFAULT_TEXT, "Terminal action codes per AID: `AID denial=HEX online=HEX default=HEX` "
                        "entries separated by `;` (a code left out, and any AID not listed, takes tac_denial/"
                        "tac_online/tac_default; the longest matching AID wins).", tacs.check_text),
    },
    "console": {
        "port": Setting(str, "", "Serial device for the technician console (empty: disabled)."),
        "baudrate": Setting(int, 115200, "Serial speed.", int_range(300, 4000000)),
        "password_hash": Setting(str, "", "Technician password as a salted scrypt hash.", scrypt_hash, secret=True),
        "idle_timeout_minutes": Setting(int, 15, "Idle minutes before the console logs out.", int_range(1, 120)),
        "max_attempts": Setting(int, 5, "Failed logins before the console locks.", int_range(1, 10)),
        "lockout_minutes": Setting(int, 30, "How long the console lock lasts (PCI DSS: at least 30).", int_range(30, 24 * 60)),
        "may_start_daemon": Setting(bool, False, "The console may start (or restart) the daemon: `daemon start`, "
                                    "`daemon restart` (installation setting)."),
    },
    "scanner": {
        "port": Setting(str, "", "Serial device of the barcode scanner for wallet payment codes (empty: none; codes are typed or given with --code)."),
        "baudrate": Setting(int, 9600, "Scanner serial speed (most counter scanners: 9600 or 115200).", int_range(300, 4000000)),
        "scan_timeout": Setting((int, float), 30.0, "Seconds to wait for the customer's code to be scanned (at most 300).", seconds(300)),
        "partial_timeout": Setting((int, float), 0.5, "Seconds after which digits without CR are a partial read and dropped (0.05 to 10).", seconds(10, least=0.05)),
    },
    "wallet": {
        "query_interval": Setting((int, float), 3.0, "Seconds between status queries while the customer confirms on the phone (0.1 to 60).", seconds(60, least=0.1)),
        "deadline": Setting((int, float), 60.0, "Seconds the customer has to confirm before the order is cancelled (at most 300: the "
                                 "sale holds the terminal until then).", seconds(300)),
        "code_field": Setting(int, 57, "ISO 8583 field that carries the payment code (unconfirmed: dialect data).", int_range(2, 63)),
        "entry_mode": Setting(str, "032", "Field 22 of a payment-code sale (unconfirmed).", matching(r"[0-9]{3}", "3 digits")),
        "sale_type": Setting(str, "41", "60.1 of a payment-code sale (unconfirmed).", matching(r"[0-9]{2}", "2 digits")),
        "query_type": Setting(str, "42", "60.1 of a status query (unconfirmed).", matching(r"[0-9]{2}", "2 digits")),
        "query_processing_code": Setting(str, "330000", "Field 3 of a status query (MTI 0100; unconfirmed).",
                                         matching(r"[0-9]{6}", "6 digits")),
        "paying_code": Setting(str, "PY", "Response code (39) meaning the customer is still confirming (unconfirmed).",
                               matching(r"[0-9A-Z]{2}", "2 letters or digits")),
    },
    "daemon": {
        "control_socket": Setting(str, "~/.posagent/control.sock", "Unix socket of the local control API."),
        "socket_mode": Setting(str, "0600", "Permissions of the control socket (octal).",
                               matching(r"0[0-7]{3}", "an octal mode such as 0600")),
        "log_level": Setting(str, "INFO", "DEBUG, INFO, WARNING or ERROR.", one_of("DEBUG", "INFO", "WARNING", "ERROR")),
        "log_file": Setting(str, "", "Log file (empty: standard error)."),
    },
    "settlement_fees": {
        "debit_rate_percent": Setting(str, "0.50", "Contracted fee on debit-card sales, percent (up to 4 decimals).",
                                      parsed_by(percent_to_ppm)),
        "debit_cap": Setting(str, "20.00", "Most fee per debit-card sale (\"\": no cap).", parsed_by(cap_to_minor)),
        "credit_rate_percent": Setting(str, "0.60", "Contracted fee on credit-card sales, percent.",
                                       parsed_by(percent_to_ppm)),
        "credit_cap": Setting(str, "", "Most fee per credit-card sale (\"\": no cap).", parsed_by(cap_to_minor)),
        "credit_bins": Setting(str, "625094", "Card number prefixes (comma-separated) of credit cards; "
                               "other cards are debit.", matching(r"([0-9]{1,8}(,[0-9]{1,8})*)?", "digits, comma-separated")),
    },
    "reconcile": {
        "statements_dir": Setting(str, "", "Directory the daemon reads statements from, by name (empty: `statements/` "
                                  "beside the journal); `posagent reconcile FILE` puts a private copy there."),
    },
    "office": {
        "url": Setting(str, "", "The back office's collector (`posoffice serve`), e.g. `http://office:8740/v1/events`; "
                       "empty: the journal is not shipped.", matching(r"(https?://[^\s]{1,200})?", "an http(s) URL")),
        "secret_file": Setting(str, "", "File holding this terminal's office secret (`posoffice terminal add` prints it), "
                               "private to the daemon's user."),
        "ca_file": Setting(str, "", "CA certificate file (PEM) the collector's https certificate must verify against "
                           "(`posoffice serve --tls-cert`); empty: this machine's CAs. Set, it requires an https:// "
                           "`url`."),
        "interval": Setting((int, float), 30.0, "Seconds between shipping rounds (1 to 600); an unreachable office "
                            "only grows the backlog, never delays a sale.", seconds(600, least=1)),
    },
    "refunds": {
        "office_unreachable": Setting(str, "refuse", "A refund by RRN and date of a sale this journal does not hold "
                                      "(made at another till) is checked with the back office (`[office] url`); when "
                                      "the office cannot be asked: `refuse`, or `supervisor` (the supervisor's refund "
                                      "goes ahead unchecked, journaled as `refund.unchecked`).",
                                      one_of("refuse", "supervisor")),
    },
}
