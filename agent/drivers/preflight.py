"""Everything `posagent run` needs from the file system, checked before it starts (and by `config check`).

Each problem is one line naming the setting and the file: a missing TLS CA file, a log directory that
does not exist, a master key that does not open with the device key...  `run` refuses to start on any of
them, so none of them can surface later as a traceback.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from agent.config import Config
from agent.errors import ConfigError
from agent.tls import make_ssl_context
from agent.tls import reason as ssl_reason


def _readable(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        return "is a directory"
    if not os.access(path, os.R_OK):
        return "cannot be read"
    return None


def _writable_dir(path: Path) -> str | None:
    """The nearest existing folder of `path` must be writable (the daemon creates the rest)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


class _Encrypted(Exception):
    """The private key asked for a passphrase: nobody is there to type it when the daemon starts."""


def _refuse_passphrase() -> bytes:
    raise _Encrypted




def _tls_problems(cfg: Config) -> list[str]:
    """The TLS files loaded into an SSL context as `run` loads them; the first that fails, in one line."""
    acq = cfg.acquirer
    ca = cfg.path("acquirer", "tls_ca_file")
    try:
        ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return [f"acquirer.tls_ca_file: {ca}: expected PEM CA certificates, "
                f"the file does not load as such ({ssl_reason(exc)})"]
    if acq.tls_cert_file:
        cert = cfg.path("acquirer", "tls_cert_file")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(cert))
        except (ssl.SSLError, OSError, ValueError) as exc:
            return [f"acquirer.tls_cert_file: {cert}: expected a PEM client certificate, "
                    f"the file does not load as one ({ssl_reason(exc)})"]
        key = cfg.path("acquirer", "tls_key_file") if acq.tls_key_file else None
        name, where = ("tls_key_file", key) if key else ("tls_cert_file", cert)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(str(cert), str(key) if key else None,
                                                                    password=_refuse_passphrase)
        except _Encrypted:
            return [f"acquirer.{name}: {where}: expected an unencrypted private key, the key asks for a passphrase"]
        except (ssl.SSLError, OSError, ValueError) as exc:
            expected = (f"the private key of the certificate in {cert}" if key else
                        "the certificate followed by its private key (or set acquirer.tls_key_file)")
            return [f"acquirer.{name}: {where}: expected {expected} ({ssl_reason(exc)})"]
    for setting in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        if getattr(acq, setting).startswith("~"):  # the link opens the names as written
            return [f"acquirer.{setting}: {getattr(acq, setting)}: expected a path without ~ "
                    "(the link does not expand it)"]
    try:  # the very call the link makes, with the values as written
        make_ssl_context(acq.tls_ca_file, acq.tls_cert_file or None, acq.tls_key_file or None)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return [f"acquirer.tls_ca_file: {acq.tls_ca_file}: the TLS files do not load together ({ssl_reason(exc)})"]
    return []


def _office_tls_problems(cfg: Config) -> list[str]:
    """`[office] ca_file`: only with an https:// url, and a file that loads as the shipper loads it."""
    office = cfg.office
    if not office.ca_file:
        return []
    if not office.url.startswith("https://"):
        return [f"office.ca_file: set, but office.url {office.url} is plain http: expected an https:// url "
                "(the terminal's secret must not travel in the clear)"]
    ca = cfg.path("office", "ca_file")
    try:
        make_ssl_context(str(ca))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return [f"office.ca_file: {ca}: expected PEM CA certificates, the file does not load as such "
                f"({ssl_reason(exc)})"]
    return []


def setting_problems(cfg: Config) -> list[str]:
    """Values each valid alone that `run` cannot use together, one line each (no file is read)."""
    from agent.engine.receipts import display_width
    found = []
    name, width = cfg.terminal.merchant_name, cfg.terminal.receipt_width
    if display_width(name) > width:
        found.append(f"terminal.merchant_name: {display_width(name)} columns wide, the receipt "
                     f"(terminal.receipt_width) is {width}: shorten the name")
    return found


def problems(cfg: Config) -> list[str]:
    found: list[str] = setting_problems(cfg)
    acq = cfg.acquirer
    if acq.tls:
        if not acq.tls_ca_file:
            found.append("acquirer.tls_ca_file: TLS is on but no CA file is set")
        for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            if getattr(acq, key):
                reason = _readable(cfg.path("acquirer", key))
                if reason:
                    found.append(f"acquirer.{key}: {cfg.path('acquirer', key)} {reason}")
        if acq.tls_key_file and not acq.tls_cert_file:
            found.append("acquirer.tls_key_file: a client key needs acquirer.tls_cert_file too")
        if acq.tls_ca_file and not found:  # every file is there: load them as the link will
            found += _tls_problems(cfg)
    for section, key in (("journal", "path"), ("journal", "fingerprint_key_file"), ("daemon", "control_socket"),
                         ("keys", "tmk_file")):
        path = cfg.path(section, key)
        if path.exists() and path.is_dir():
            found.append(f"{section}.{key}: {path} is a directory")
        elif not path.exists():
            reason = _writable_dir(path)
            if reason:
                found.append(f"{section}.{key}: cannot create {path}: {reason}")
    if cfg.office.url:  # shipping to the back office: the terminal's secret must be there to read
        if not cfg.office.secret_file:
            found.append("office.secret_file: office.url is set but no secret file (posoffice terminal add prints "
                         "the secret)")
        else:
            from agent.office.link import ShipError, read_secret
            try:
                read_secret(cfg.path("office", "secret_file"))
            except ShipError as exc:
                found.append(f"office.secret_file: {exc}")
        found += _office_tls_problems(cfg)
    if cfg.daemon.log_file:
        path = cfg.path("daemon", "log_file")
        reason = f"no directory {path.parent}" if not path.parent.is_dir() else (
            "is a directory" if path.is_dir() else None if not path.exists() or os.access(path, os.W_OK)
            else "cannot be written")
        if reason:
            found.append(f"daemon.log_file: {path}: {reason}")
    fingerprint = cfg.path("journal", "fingerprint_key_file")
    if fingerprint.exists() and not fingerprint.is_dir():
        reason = _readable(fingerprint)
        if reason:
            found.append(f"journal.fingerprint_key_file: {fingerprint} {reason}")
        elif fingerprint.stat().st_size < 16:
            found.append(f"journal.fingerprint_key_file: {fingerprint} is shorter than 128 bits")
    tmk_file = cfg.path("keys", "tmk_file")
    if tmk_file.exists() and not tmk_file.is_dir():
        from agent.keys.load import KeyLoadError, MasterKeyFile
        try:
            MasterKeyFile(tmk_file, cfg.path("keys", "device_key_file")).load()
        except KeyLoadError as exc:
            found.append(f"keys.tmk_file: {exc}")
    if cfg.emv.ca_keys:
        from agent.emv.oda import load_ca_keys
        try:
            load_ca_keys(cfg.path("emv", "ca_keys"))
        except ConfigError as exc:
            found.append(f"emv.ca_keys: {exc}")
    if cfg.card_reader.test_cards:
        from agent.drivers.testcards import load_test_cards
        try:
            load_test_cards(cfg.path("card_reader", "test_cards"))
        except ConfigError as exc:
            found.append(f"card_reader.test_cards: {exc}")
    if cfg.console.port and not Path(cfg.console.port).exists():
        found.append(f"console.port: {cfg.console.port} does not exist")
    return found
