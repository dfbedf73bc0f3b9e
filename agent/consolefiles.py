"""The console's two files: atomic replacement (config edits) and the login-lock state file.

They sit below the console because the daemon (its technician gate) and the key loader use them too.

The technician's failure counter and lock live in a small JSON file beside the journal
(``journal.db.console-auth.json``), not in the journal itself: the daemon holds the journal, and the
console must still let a technician in (and keep counting failures) when the daemon is down, which
is when a technician is most often needed.  The file is written atomically (temp file, fsync,
rename, fsync of the directory), mode 0600, so a power cut leaves the old counter or the new one.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent import atomicfile
from agent.errors import PosagentError

#: the state file is tiny; anything larger is not ours
MAX_STATE_BYTES = 64 * 1024


class ConsoleFileError(PosagentError):
    """A console file could not be read or written; the message names the file."""


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` so that a crash leaves either the old file or the new one, never half."""
    try:
        atomicfile.atomic_write(path, data, mode=mode)
    except OSError as exc:
        raise ConsoleFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def auth_state_path(journal_path: Path) -> Path:
    """Where the console's lock state lives for a journal."""
    return journal_path.with_name(journal_path.name + ".console-auth.json")


class FileStateStore:
    """`get_state`/`set_state` (what `agent.auth.PasswordGate` needs) over one small JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _read(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConsoleFileError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if len(raw) > MAX_STATE_BYTES:
            raise ConsoleFileError(f"{self.path} is larger than {MAX_STATE_BYTES} bytes; not a console state file")
        try:
            data = json.loads(raw)
        except ValueError:
            # a damaged counter must not unlock the console: treat it as locked until repaired
            raise ConsoleFileError(f"{self.path} is damaged; remove it to reset the console lock") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConsoleFileError(f"{self.path} is not a console state file")
        return data

    def get_state(self, key: str) -> str | None:
        return self._read().get(key)

    def set_state(self, key: str, value: str) -> None:
        data = self._read()
        data[key] = value
        atomic_write(self.path, json.dumps(data, sort_keys=True).encode("utf-8"))
