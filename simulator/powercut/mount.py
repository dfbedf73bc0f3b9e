"""Start, steer and always unmount a power-cut filesystem (`simulator.powercut.server`) from tests.

    with PowercutMount.start(tmp_path / "pc") as disk:
        path = disk.mountpoint / "journal.db"     # everything written here is volatile until fsynced
        ...
        disk.cut(tear=1)      # power cut: unsynced data gone, last write torn, mounted again
        disk.fail("fsync", nth=2, error="EIO")   # the second fsync from now fails
        disk.cut_at("fsync", nth=3); ...; disk.power_cut()   # power fails just before the third fsync
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any
from pathlib import Path

from agent.errors import PosagentError

ROOT = Path(__file__).resolve().parents[2]
MOUNT_TIMEOUT = 20.0


class PowercutError(PosagentError):
    """The power-cut filesystem is missing, would not mount, or refused a control request."""


def unavailable() -> str | None:
    """Why a power-cut filesystem cannot run here (None when it can)."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing (FUSE is not in this kernel or not in this container)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (Debian package fuse3; make test installs it when run as root)"
    try:
        import mfusepy  # noqa: F401 — loads libfuse3 through ctypes
    except (ImportError, OSError, EnvironmentError) as exc:
        return f"the mfusepy FUSE binding cannot load libfuse: {exc}"
    return None


def _unmount(mountpoint: Path, lazy: bool = False) -> bool:
    args = ["fusermount3", "-u", *(["-z"] if lazy else []), str(mountpoint)]
    return subprocess.run(args, capture_output=True, text=True).returncode == 0


class PowercutMount:
    def __init__(self, base: Path):
        self.base = Path(base)
        self.backing = self.base / "disk"          # the stable storage: what survives a power cut
        self.trash = self.base / "disk-removed"     # removals not yet made durable (restored by a cut)
        self.mountpoint = self.base / "mnt"
        self.control_path = self.base / "control.sock"
        self.proc: subprocess.Popen[str] | None = None

    @classmethod
    def start(cls, base: Path) -> "PowercutMount":
        reason = unavailable()
        if reason:
            raise PowercutError(reason)
        disk = cls(base)
        for folder in (disk.backing, disk.trash, disk.mountpoint):
            folder.mkdir(parents=True, exist_ok=True)
        disk.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator.powercut.server", str(disk.backing), str(disk.trash),
             str(disk.mountpoint), str(disk.control_path)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None if os.environ.get("POWERCUT_LOG") else subprocess.PIPE, text=True)
        try:
            disk._wait_mounted(1)
        except BaseException:
            disk.stop()
            raise
        return disk

    def __enter__(self) -> "PowercutMount":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control
    def control(self, **request: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30 + float(request.get("timeout") or 0))
            sock.connect(str(self.control_path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        answer = json.loads(reply or b"{}")
        if not isinstance(answer, dict) or not answer.get("ok"):
            why = answer.get("error") if isinstance(answer, dict) else answer
            raise PowercutError(f"the power-cut filesystem refused {request.get('op')}: {why}")
        return answer

    def stats(self) -> dict[str, Any]:
        return self.control(op="stats")

    def fail(self, call: str, nth: int, error: str = "EIO", *, sticky: bool = False) -> None:
        """Make the `nth` storage call of kind `call` (read, write, fsync, rename, create, unlink, truncate
        or any) from now fail with `error`; with `sticky`, every later one too, until `clear`."""
        self.control(op="fail", call=call, nth=nth, error=error, sticky=sticky)

    def cut_at(self, call: str, nth: int, *, tear: int = 0) -> int:
        """Cut the power just before the `nth` storage call of kind `call` from now (see `power_cut`);
        returns how many cuts there have been so far (for `wait_cut`)."""
        cuts: int = self.control(op="fail", call=call, nth=nth, error="CUT", tear=tear)["cuts"]
        return cuts

    def wait_cut(self, after: int, timeout: float = 30) -> bool:
        """Block until the power has been cut more than `after` times (True) or `timeout` passed (False)."""
        cut: bool = self.control(op="wait_cut", after=after, timeout=timeout)["cut"]
        return cut

    def power_cut(self, tear: int = 0) -> bool:
        """After the process using the disk is dead: the cut armed by `cut_at` if it came (True), a cut
        now if not (False); then the filesystem is mounted again."""
        stats = self.stats()
        self.control(op="clear")
        if not stats["dead"]:
            self.cut(tear)
            return False
        self._unmount_now()
        self._wait_mounted(stats["mounts"] + 1)
        return True

    def clear(self) -> int:
        """Disarm the fault; returns how many calls it failed."""
        fired: int = self.control(op="clear")["fired"]
        return fired

    def cut(self, tear: int = 0) -> dict[str, Any]:
        """Power cut: every unsynced change is gone (`tear` sectors of the last write kept), then the
        filesystem is mounted again.  Whoever had files open on it must be dead or have closed them."""
        mounts = self.stats()["mounts"]
        result = self.control(op="cut", tear=tear)
        self._unmount_now()
        self._wait_mounted(mounts + 1)
        return result

    # ------------------------------------------------------------------ mounting
    def _wait_mounted(self, mounts: int) -> None:
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                # its stderr is a pipe, or (POWERCUT_LOG set) the caller's own, where it already wrote why
                why = (self.proc.stderr.read() or "") if self.proc.stderr is not None else "see its log above"
                raise PowercutError(f"the power-cut filesystem exited (status {self.proc.returncode}): "
                                    f"{why.strip()[-400:]}")
            if self.control_path.exists() and os.path.ismount(self.mountpoint):
                try:
                    if self.stats()["mounts"] >= mounts:
                        return
                except (OSError, PowercutError, ValueError):
                    pass
            time.sleep(0.01)
        raise PowercutError(f"the power-cut filesystem did not mount on {self.mountpoint} within {MOUNT_TIMEOUT:g} s")

    def _unmount_now(self) -> None:
        for _ in range(200):  # a process that just died may still be closing its files
            if _unmount(self.mountpoint):
                return
            time.sleep(0.01)
        if not _unmount(self.mountpoint, lazy=True):
            raise PowercutError(f"cannot unmount {self.mountpoint}")

    def stop(self) -> None:
        """Unmount and end the filesystem's process; never leaves a mount behind."""
        try:
            if self.proc is not None and self.proc.poll() is None and self.control_path.exists():
                try:
                    self.control(op="stop")
                except (OSError, PowercutError, ValueError):
                    pass
        finally:
            if os.path.ismount(self.mountpoint):
                if not _unmount(self.mountpoint):
                    time.sleep(0.1)
                    _unmount(self.mountpoint) or _unmount(self.mountpoint, lazy=True)
            if self.proc is not None:
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                if self.proc.stderr:
                    self.proc.stderr.close()
                self.proc = None
