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

Files that hold card data, fingerprints or references (evidence exports, claim letters) go through
`PrivateDirectory` / `write_private`: written the same way, and also mode 0600 in a directory that is
not a symbolic link, is this user's (or root's) and that no other user may write to (unless sticky);
a new directory is 0700; no symbolic link is ever followed (every name is resolved relative to the
directory's open descriptor) and an existing file is replaced only when asked (`force`).
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from agent.errors import UsageError


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(directory: Path, mode: int = 0o777) -> None:
    """`mkdir -p` whose new directories survive a power cut (each one's parent is fsynced)."""
    directory = Path(directory)
    missing = []
    while not directory.exists() and not directory.is_symlink():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, mode)
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


# ------------------------------------------------------------------------------------------ private files
class PrivateFileError(UsageError):
    """A private file or its directory refused (a link, another user's directory, a file in the way)."""


_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class PrivateDirectory:
    """An open directory to write private files in; every name is resolved relative to its descriptor."""

    def __init__(self, fd: int, path: Path):
        self.fd, self.path = fd, Path(path)

    @classmethod
    def open(cls, path: Path, *, create: bool) -> "PrivateDirectory":
        """`path` (created 0700 with its missing parents when `create`), refused unless it is a safe directory."""
        path = Path(path)
        if create and not path.is_symlink() and not path.exists():
            try:
                make_directories(path, 0o700)
            except OSError as exc:
                raise PrivateFileError(f"cannot create the directory {path}: {exc.strerror}") from None
        try:
            fd = os.open(path, _NOFOLLOW_DIR)
        except FileNotFoundError:
            raise PrivateFileError(f"no directory {path}") from None
        except OSError as exc:
            raise PrivateFileError(cls._why_not(path, exc)) from None
        return cls._checked(fd, path)

    def subdirectory(self, name: str) -> "PrivateDirectory":
        """The directory `name` inside this one, created 0700 if missing, checked like this one."""
        try:
            os.mkdir(name, 0o700, dir_fd=self.fd)
            os.fsync(self.fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise PrivateFileError(f"cannot create the directory {self.path / name}: {exc.strerror}") from None
        try:
            fd = os.open(name, _NOFOLLOW_DIR, dir_fd=self.fd)
        except OSError as exc:
            raise PrivateFileError(self._why_not(self.path / name, exc, self.fd, name)) from None
        return self._checked(fd, self.path / name)

    @staticmethod
    def _why_not(path: Path, exc: OSError, dir_fd: int | None = None, name: str | None = None) -> str:
        try:
            info = os.stat(name if name is not None else path, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return f"cannot open the directory {path}: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            return f"{path} is a symbolic link; refusing to write through it"
        if not stat.S_ISDIR(info.st_mode):
            return f"{path} is not a directory"
        return f"cannot open the directory {path}: {exc.strerror}"

    @classmethod
    def _checked(cls, fd: int, path: Path) -> "PrivateDirectory":
        info = os.fstat(fd)
        problem = None
        if info.st_uid not in (os.geteuid(), 0):
            problem = f"the directory {path} belongs to another user (uid {info.st_uid})"
        elif info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            problem = (f"the directory {path} may be written by other users (mode "
                       f"{stat.S_IMODE(info.st_mode):04o}); use a private directory")
        if problem:
            os.close(fd)
            raise PrivateFileError(problem)
        return cls(fd, path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "PrivateDirectory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def existing(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def check_free(self, name: str, *, force: bool) -> None:
        """Refuse `name` if writing it would follow a link, replace a directory, or overwrite without `force`."""
        info = self.existing(name)
        if info is None:
            return
        if stat.S_ISLNK(info.st_mode):
            raise PrivateFileError(f"{self.path / name} is a symbolic link; refusing to write through it")
        if not stat.S_ISREG(info.st_mode):
            raise PrivateFileError(f"{self.path / name} is a directory or a special file; refusing to replace it")
        if not force:
            raise PrivateFileError(f"{self.path / name} already exists; add --force to replace it")

    def write(self, name: str, data: bytes, *, force: bool) -> Path:
        """Write `name` (mode 0600): after a power cut the old file or this one, never half; returns its path."""
        self.check_free(name, force=force)
        tmp = f".{name[:64]}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                         0o600, dir_fd=self.fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, 0o600)
                os.fsync(fd)
            finally:
                os.close(fd)
            if force and self.existing(name) is not None:
                self.check_free(name, force=True)
                os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)  # replaces the name, follows nothing
            else:
                os.link(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
        except FileExistsError:  # something took the name meanwhile: a link or a file, never written through
            self.check_free(name, force=False)
            raise PrivateFileError(f"{self.path / name} appeared while writing; refusing to replace it") from None
        except OSError as exc:
            raise PrivateFileError(f"cannot write {self.path / name}: {exc.strerror}") from None
        finally:
            try:
                os.unlink(tmp, dir_fd=self.fd)
            except FileNotFoundError:
                pass
        os.fsync(self.fd)
        return self.path / name


def write_private(path: Path, data: bytes, *, force: bool) -> None:
    """One private file: 0600, in a checked directory that must exist, no link followed, replaced only if `force`."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise PrivateFileError(f"{path} is not a file name")
    with PrivateDirectory.open(path.parent, create=False) as directory:
        directory.write(path.name, data, force=force)
