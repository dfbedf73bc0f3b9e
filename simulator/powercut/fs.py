"""The power-cut filesystem: a FUSE passthrough that keeps every unsynced change in its own memory.

Data written to a file stays in this process (`pages.UnsyncedFile`) until that file is fsynced; a
create, rename, unlink or mkdir is done on the backing directory at once but remembered with its undo
until its directory is fsynced.  On a `cut` (a power cut) all of that is forgotten and undone, so the
backing directory holds exactly what a disk that lost power would: what was fsynced, nothing else.  A
cut may also *tear* the last unsynced write, keeping its first sectors.  The N-th storage call of a kind
can be made to fail with EIO or ENOSPC (once, or from then on until cleared).

The backing directory stands for the stable storage: the machine itself never loses power, so its own
writes to the backing need no fsync.  Run as its own process (`python -m simulator.powercut.fs`); it is
steered through a control socket by `simulator.powercut.mount.PowercutMount`.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

from mfusepy import FuseOSError, Operations

from simulator.powercut.pages import ReadDurable, UnsyncedFile, torn_prefix

#: the storage calls a fault can aim at ("any" counts them all)
CALL_KINDS = ("read", "write", "fsync", "rename", "create", "unlink", "truncate")
#: what a fault does: fail the call with an error, or cut the power just before the call runs
ERRNOS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC, "CUT": None}


class Fault:
    """Fail the `nth` call of `kind` counted from now (and every later one if `sticky`); with error CUT,
    cut the power instead, just before that call (keeping `tear` sectors of the last write)."""

    def __init__(self, kind: str, nth: int, error: str, sticky: bool, tear: int = 0):
        if kind not in (*CALL_KINDS, "any"):
            raise ValueError(f"fault call kind must be one of {', '.join((*CALL_KINDS, 'any'))}, got {kind!r}")
        if error not in ERRNOS:
            raise ValueError(f"fault error must be EIO, ENOSPC or CUT, got {error!r}")
        if not isinstance(nth, int) or nth < 1:
            raise ValueError(f"fault nth must be a whole number from 1, got {nth!r}")
        if not isinstance(tear, int) or tear < 0:
            raise ValueError(f"fault tear must be a whole number of sectors from 0, got {tear!r}")
        self.kind, self.nth, self.errno, self.sticky, self.tear = kind, nth, ERRNOS[error], bool(sticky), tear
        self.seen = 0
        self.fired = 0

    def hit(self, kind: str) -> bool:
        if self.kind not in ("any", kind):
            return False
        self.seen += 1
        if self.seen == self.nth or (self.sticky and self.seen > self.nth):
            self.fired += 1
            return True
        return False


class PowercutFS(Operations):  # type: ignore[misc]  # mfusepy ships no types: its Operations is Any to mypy
    use_ns = True

    def __init__(self, root: Path, trash: Path):
        self.root, self.trash = str(root), str(trash)
        os.makedirs(self.trash, exist_ok=True)
        self.mutex = threading.RLock()
        self.cut_done = threading.Condition(self.mutex)   # notified at every power cut
        self.unsynced: dict[int, UnsyncedFile] = {}       # backing inode → unsynced pages
        self.pending: list[tuple[str, ...]] = []                     # namespace changes not yet made durable
        self.handles: dict[int, int] = {}                  # open backing fd → inode
        self.last_write: tuple[int, int, bytes] | None = None  # (inode, offset, data) of the last unsynced write
        self.fault: Fault | None = None
        self.calls = {kind: 0 for kind in CALL_KINDS}
        self.dead = False   # after a cut, until the remount
        self.mounts = 0
        self.cuts = 0
        self._trash_names = itertools.count()

    # ------------------------------------------------------------------ helpers
    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _call(self, kind: str) -> None:
        if self.dead:
            raise FuseOSError(errno.EIO)
        self.calls[kind] += 1
        if self.fault is not None and self.fault.hit(kind):
            if self.fault.errno is None:
                self.cut(self.fault.tear)
                raise FuseOSError(errno.EIO)  # the power is off: nothing answers any more
            raise FuseOSError(self.fault.errno)

    @staticmethod
    def _reader(fd: int) -> ReadDurable:
        return lambda offset, size: os.pread(fd, size, offset)

    def _unsynced(self, ino: int, durable_size: int) -> UnsyncedFile:
        entry = self.unsynced.get(ino)
        if entry is None:
            entry = self.unsynced[ino] = UnsyncedFile(size=durable_size, durable_size=durable_size)
        return entry

    def _to_trash(self, path: str) -> str:
        target = os.path.join(self.trash, str(next(self._trash_names)))
        os.rename(self._path(path), target)
        return target

    # ------------------------------------------------------------------ metadata
    def init(self, path: str) -> None:
        with self.mutex:
            self.mounts += 1
            self.dead = False

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        with self.mutex:
            if self.dead:
                raise FuseOSError(errno.EIO)
            st = os.fstat(fh) if fh is not None and fh in self.handles else os.lstat(self._path(path))
            attrs = {key: getattr(st, key) for key in ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size",
                                                        "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = attrs.pop(key + "_ns")
            entry = self.unsynced.get(st.st_ino)
            if entry is not None and stat.S_ISREG(st.st_mode):
                attrs["st_size"] = entry.size
            return attrs

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._path(path), amode):
            raise FuseOSError(errno.EACCES)
        return 0

    def readdir(self, path: str, fh: int) -> list[str]:
        with self.mutex:
            if self.dead:
                raise FuseOSError(errno.EIO)
            return [".", "..", *os.listdir(self._path(path))]

    def opendir(self, path: str) -> int:
        return 0

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                  "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if times is None:  # "now" (mfusepy passes None when the kernel gives no times)
            os.utime(self._path(path))
        else:
            os.utime(self._path(path), ns=times)
        return 0

    # ------------------------------------------------------------------ namespace (undone by a cut until fsyncdir)
    def mkdir(self, path: str, mode: int) -> int:
        with self.mutex:
            self._call("create")
            os.mkdir(self._path(path), mode)
            self.pending.append(("created", path))
            return 0

    def create(self, path: str, mode: int, fi: object = None) -> int:
        with self.mutex:
            self._call("create")
            fd = os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
            self.pending.append(("created", path))
            self.handles[fd] = os.fstat(fd).st_ino
            return fd

    def unlink(self, path: str) -> int:
        with self.mutex:
            self._call("unlink")
            self.pending.append(("removed", path, self._to_trash(path)))
            return 0

    def rmdir(self, path: str) -> int:
        with self.mutex:
            self._call("unlink")
            if os.listdir(self._path(path)):
                raise FuseOSError(errno.ENOTEMPTY)
            self.pending.append(("removed", path, self._to_trash(path)))
            return 0

    def rename(self, old: str, new: str) -> int:
        with self.mutex:
            self._call("rename")
            if os.path.lexists(self._path(new)):
                self.pending.append(("removed", new, self._to_trash(new)))
            os.rename(self._path(old), self._path(new))
            self.pending.append(("moved", old, new))
            return 0

    def link(self, target: str, source: str) -> int:
        """A new name `target` for the file `source` (mfusepy's argument order)."""
        with self.mutex:
            self._call("create")
            os.link(self._path(source), self._path(target))
            self.pending.append(("created", target))
            return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        with self.mutex:
            self._call("fsync")
            directory = "/" + path.strip("/")
            keep = []
            for change in self.pending:
                names = change[1:3] if change[0] == "moved" else change[1:2]  # a removal's [2] is its trash copy
                if any(os.path.dirname("/" + name.strip("/")) == directory for name in names):
                    if change[0] == "removed":
                        self._forget(change[2])
                else:
                    keep.append(change)
            self.pending = keep
            return 0

    @staticmethod
    def _forget(trashed: str) -> None:
        if os.path.isdir(trashed) and not os.path.islink(trashed):
            shutil.rmtree(trashed, ignore_errors=True)
        elif os.path.lexists(trashed):
            os.unlink(trashed)

    # ------------------------------------------------------------------ data (kept here until fsync)
    def open(self, path: str, flags: int) -> int:
        with self.mutex:
            if self.dead:
                raise FuseOSError(errno.EIO)
            fd = os.open(self._path(path), os.O_RDWR)
            st = os.fstat(fd)
            self.handles[fd] = st.st_ino
            if flags & os.O_TRUNC:
                self._call("truncate")
                self._unsynced(st.st_ino, st.st_size).truncate(0)
            return fd

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self.mutex:
            self._call("read")
            entry = self.unsynced.get(self.handles[fh])
            if entry is None:
                return os.pread(fh, size, offset)
            return entry.read(offset, size, self._reader(fh))

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self.mutex:
            self._call("write")
            ino = self.handles[fh]
            self._unsynced(ino, os.fstat(fh).st_size).write(offset, data, self._reader(fh))
            self.last_write = (ino, offset, bytes(data))
            return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        with self.mutex:
            self._call("truncate")
            st = os.fstat(fh) if fh is not None and fh in self.handles else os.stat(self._path(path))
            self._unsynced(st.st_ino, st.st_size).truncate(length)
            return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        with self.mutex:
            self._call("fsync")
            ino = self.handles[fh]
            entry = self.unsynced.pop(ino, None)
            if entry is not None:
                if entry.zero_from < os.fstat(fh).st_size:
                    os.ftruncate(fh, entry.zero_from)
                for offset, chunk in entry.extents():
                    os.pwrite(fh, chunk, offset)
                os.ftruncate(fh, entry.size)
            if self.last_write is not None and self.last_write[0] == ino:
                self.last_write = None
            return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        with self.mutex:
            if self.handles.pop(fh, None) is not None:
                os.close(fh)
            return 0

    # ------------------------------------------------------------------ the power cut
    def cut(self, tear_sectors: int = 0) -> dict[str, int]:
        """Forget every unsynced change (keeping `tear_sectors` sectors of the last write, if any)."""
        with self.mutex:
            torn = 0
            if tear_sectors and self.last_write is not None:
                ino, offset, data = self.last_write
                prefix = torn_prefix(offset, data, tear_sectors)
                target = self._find_inode(ino)
                if prefix and target is not None:
                    fd = os.open(target, os.O_WRONLY)
                    try:
                        os.pwrite(fd, prefix, offset)
                    finally:
                        os.close(fd)
                    torn = len(prefix)
            dropped = len(self.unsynced)
            undone = len(self.pending)
            for change in reversed(self.pending):
                self._undo(change)
            self.unsynced.clear()
            self.pending.clear()
            self.last_write = None
            for fd in self.handles:
                os.close(fd)
            self.handles.clear()
            self.dead = True
            self.cuts += 1
            self.cut_done.notify_all()
            return {"dropped_files": dropped, "undone": undone, "torn_bytes": torn}

    def _undo(self, change: tuple[str, ...]) -> None:
        try:
            if change[0] == "created":
                self._forget(self._path(change[1]))
            elif change[0] == "removed":
                os.rename(change[2], self._path(change[1]))
            elif change[0] == "moved":
                os.rename(self._path(change[2]), self._path(change[1]))
        except FileNotFoundError:  # a later change in another directory already moved it on
            pass

    def _find_inode(self, ino: int) -> str | None:
        for top in (self.root, self.trash):
            for folder, dirs, files in os.walk(top):
                for name in files:
                    full = os.path.join(folder, name)
                    if os.lstat(full).st_ino == ino:
                        return full
        return None

    def wait_cut(self, after: int, timeout: float) -> int:
        """Block until more than `after` power cuts have happened (or `timeout` seconds); the count."""
        with self.mutex:
            self.cut_done.wait_for(lambda: self.cuts > after, timeout)
            return self.cuts

    def stats(self) -> dict[str, Any]:
        with self.mutex:
            return {"calls": dict(self.calls), "unsynced_files": len(self.unsynced), "pending": len(self.pending),
                    "fault_fired": self.fault.fired if self.fault else 0, "mounts": self.mounts, "cuts": self.cuts,
                    "dead": self.dead}
