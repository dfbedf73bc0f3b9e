"""Saving a small file so that a power cut leaves the old one or the new one, never half, never none.

Every writer of a file that must survive a power cut goes through here: the working-key file, the
console's lock state, configuration saves and the fingerprint key.  Why each step:
  - the data is written to a temporary file in the same directory and fsynced, so the bytes are on disk
    before any name points at them;
  - the rename (or the link, for a file that must not exist yet) swaps the name in one step;
  - the directory is fsynced after it: a rename or a new name lives in the directory, and without that
    fsync a power cut can forget it and bring the old file back, or leave no file at all;
  - a directory this creates is made durable the same way, in its parent.
Raises OSError as the operating system reported it; callers turn it into their own error with the path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(directory: Path) -> None:
    """`mkdir -p` whose new directories survive a power cut (each one's parent is fsynced)."""
    directory = Path(directory)
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        try:
            os.mkdir(new)
        except FileExistsError:
            continue
        fsync_directory(new.parent)


def _write_temporary(directory: Path, name: str, data: bytes, mode: int) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` (file mode `mode`): after a power cut it holds the old bytes or these."""
    path = Path(path)
    make_directories(path.parent)
    tmp = _write_temporary(path.parent, path.name, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def create_exclusive(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create `path` holding `data`, failing with FileExistsError if it exists: never seen empty or short,
    even after a power cut (the name appears, by a hard link, only once the bytes are on disk)."""
    path = Path(path)
    make_directories(path.parent)
    tmp = _write_temporary(path.parent, path.name, data, mode)
    try:
        os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_directory(path.parent)
