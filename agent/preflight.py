"""Everything `posagent run` needs from the file system, checked before it starts (and by `config check`).

Each problem is one line naming the setting and the file: a missing TLS CA file, a log directory that
does not exist, a master key that does not open with the device key...  `run` refuses to start on any of
them, so none of them can surface later as a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.config import Config


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


def problems(cfg: Config) -> list[str]:
    found: list[str] = []
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
    for section, key in (("journal", "path"), ("journal", "fingerprint_key_file"), ("daemon", "control_socket"),
                         ("keys", "tmk_file")):
        path = cfg.path(section, key)
        if path.exists() and path.is_dir():
            found.append(f"{section}.{key}: {path} is a directory")
        elif not path.exists():
            reason = _writable_dir(path)
            if reason:
                found.append(f"{section}.{key}: cannot create {path}: {reason}")
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
        from agent.keyload import KeyLoadError, MasterKeyFile
        try:
            MasterKeyFile(tmk_file, cfg.path("keys", "device_key_file")).load()
        except KeyLoadError as exc:
            found.append(f"keys.tmk_file: {exc}")
    if cfg.card_reader.test_cards:
        from agent.drivers.testcards import load_test_cards
        from agent.errors import ConfigError
        try:
            load_test_cards(cfg.path("card_reader", "test_cards"))
        except ConfigError as exc:
            found.append(f"card_reader.test_cards: {exc}")
    if cfg.console.port and not Path(cfg.console.port).exists():
        found.append(f"console.port: {cfg.console.port} does not exist")
    return found
