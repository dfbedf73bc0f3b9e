"""Start a program as a new process without paying for its interpreter and imports each time.

A restart after a power cut or a SIGKILL must be a fresh process that opens everything again and
recovers from what is on disk; it need not re-read and compile a hundred modules.  The fork server
imports the program's modules once, opens nothing of the program's (no journal, no socket, no log),
then for each request forks: the child is a new process (its own pid, its own memory from then on)
that runs the program's `main(argv)` with the standard streams it was handed, and exits.  The client
gets a `ForkedProcess`, which behaves like `subprocess.Popen` for what the stack needs (pid, stdout,
stderr, poll, wait, send_signal, kill, returncode).

    server = ForkServer.start("agent.cli:main", preload=DAEMON_MODULES)
    proc = server.spawn(["--config", "posagent.toml", "run"], cwd=ROOT)
    proc.stdout.readline()   # "posagent ready: ..."
    proc.kill(); proc.wait()
    server.stop()

The protocol (one Unix-socket connection per child): the client sends one JSON line
{"argv": [...], "cwd": "..."} with its stdin, stdout and stderr as SCM_RIGHTS; the server answers
{"pid": N} with a pidfd of the child, then {"exit": CODE} when the child ends (a signal gives a
negative code, as Popen's returncode).  The server ends its children and itself when its own standard
input closes, so a client that dies leaves nothing behind.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import IO, Any, Callable, Protocol, TextIO

from agent.errors import PosagentError

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0

#: a program's entry point: `main(argv)` → its exit status (None: 0)
Main = Callable[[list[str]], object]


class _Closable(Protocol):
    def close(self) -> None: ...


class ForkServerError(PosagentError):
    """The fork server would not start, or refused to start a program."""


# ---------------------------------------------------------------------------------------- the server

def _resolve(entry: str) -> Main:
    module, _, name = entry.partition(":")
    if not module or not name:
        raise ForkServerError(f"entry point must be MODULE:FUNCTION, got {entry!r}")
    target: Main = getattr(importlib.import_module(module), name)
    return target


def _child(main: Main, request: dict[str, Any], fds: list[int], closing: list[_Closable]) -> None:
    """In the forked child: take the handed streams, run `main`, exit with its status (never returns)."""
    code = 1
    try:
        for thing in closing:
            thing.close()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request.get("cwd") or ROOT)
        sys.argv = [sys.argv[0], *request["argv"]]
        try:
            status = main(list(request["argv"]))
        except SystemExit as exc:
            status = exc.code
        code = status if isinstance(status, int) else (0 if status is None else 1)
    except BaseException:  # noqa: BLE001 — the child reports and exits, it never returns into the server
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(listener: socket.socket, main: Main) -> None:
    """Fork one child per connection; report its exit on that connection; end at EOF on stdin."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd → (pid, connection)
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "stdin":
                    if not os.read(sys.stdin.fileno(), 4096):
                        return
                elif key.data == "accept":
                    conn, _ = listener.accept()
                    _fork_one(conn, main, selector, children, listener)
                else:
                    pidfd = key.fd
                    pid, conn = children.pop(pidfd)
                    selector.unregister(pidfd)
                    _, status = os.waitpid(pid, 0)
                    try:
                        conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                    except OSError:
                        pass
                    conn.close()
                    os.close(pidfd)
    finally:
        for pidfd, (pid, conn) in children.items():
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            conn.close()


def _fork_one(conn: socket.socket, main: Main, selector: selectors.BaseSelector,
              children: dict[int, tuple[int, socket.socket]], listener: socket.socket) -> None:
    fds: list[int] = []
    try:
        message, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        request = json.loads(message.split(b"\n", 1)[0])
        if len(fds) != 3 or not isinstance(request.get("argv"), list):
            raise ValueError("a request is one JSON line with an argv list and exactly 3 file descriptors")
    except (OSError, ValueError) as exc:
        try:
            conn.sendall(json.dumps({"error": f"bad request: {exc}"}).encode() + b"\n")
        except OSError:
            pass
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        closing: list[_Closable] = [selector, listener, conn, *(c for _, c in children.values())]
        _child(main, request, fds, closing + [_Fd(fd) for fd in children])
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
    except OSError:
        pass
    children[pidfd] = (pid, conn)
    selector.register(pidfd, selectors.EVENT_READ, "child")


class _Fd:
    def __init__(self, fd: int):
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m simulator.forkserver SOCKET MODULE:FUNCTION [PRELOAD_MODULE ...]", file=sys.stderr)
        return 2
    path, entry, *preload = argv
    try:
        for name in preload:
            importlib.import_module(name)
        target = _resolve(entry)
    except (ImportError, AttributeError, ForkServerError) as exc:
        print(f"fork server: {entry}: {exc}", file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    serve(listener, target)
    return 0


# ---------------------------------------------------------------------------------------- the client

class ForkedProcess:
    """A child of the fork server, used like a `subprocess.Popen` (text-mode stdout and stderr pipes)."""

    def __init__(self, args: list[str], conn: socket.socket, pid: int, pidfd: int, stdout: TextIO, stderr: TextIO):
        self.args, self.pid, self.stdout, self.stderr = args, pid, stdout, stderr
        self.stdin = None
        self.returncode: int | None = None
        self._conn, self._pidfd, self._buffer = conn, pidfd, b""

    def poll(self) -> int | None:
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(timeout)
        if code is None:  # only with a timeout: without one, `_collect` waits for the exit
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def _collect(self, timeout: float | None) -> int | None:
        while self.returncode is None:
            if not select.select([self._conn], [], [], timeout)[0]:
                return None
            chunk = self._conn.recv(4096)
            self._buffer += chunk
            if b"\n" in self._buffer:
                self.returncode = int(json.loads(self._buffer.split(b"\n", 1)[0])["exit"])
            elif not chunk:  # the server itself is gone (it kills its children on the way out)
                self.returncode = -signal.SIGKILL
            if self.returncode is not None:
                self._conn.close()
                os.close(self._pidfd)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, sig)  # never another process that got the pid since
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client side: start the server (`start`), fork programs (`spawn`), end it all (`stop`)."""

    def __init__(self, proc: subprocess.Popen[bytes], socket_path: Path, folder: tempfile.TemporaryDirectory[str]):
        self.proc, self.socket_path, self._folder = proc, socket_path, folder

    @classmethod
    def start(cls, entry: str, preload: tuple[str, ...] = ()) -> "ForkServer":
        folder = tempfile.TemporaryDirectory(prefix="posim-fork-")
        path = Path(folder.name) / "fork.sock"
        proc = subprocess.Popen([sys.executable, "-m", "simulator.forkserver", str(path), entry, *preload],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = b""
        stdout: IO[bytes] | None = proc.stdout
        assert stdout is not None  # a pipe: Popen was given PIPE
        if select.select([stdout], [], [], START_TIMEOUT)[0]:
            line = stdout.readline()
        if line.strip() != b"ready":
            proc.kill()
            _, err = proc.communicate()
            folder.cleanup()
            raise ForkServerError(f"the fork server for {entry} did not start: "
                                  f"{(err or b'').decode(errors='replace').strip()[-400:] or 'no answer'}")
        return cls(proc, path, folder)

    def spawn(self, argv: list[str], cwd: Path | None = None) -> ForkedProcess:
        """`main(argv)` in a new process, its stdin empty and its stdout and stderr pipes to us."""
        if self.proc.poll() is not None:
            raise ForkServerError(f"the fork server has exited (status {self.proc.returncode})")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        conn = socket.socket(socket.AF_UNIX)
        try:
            conn.connect(str(self.socket_path))
            request = {"argv": [str(a) for a in argv], "cwd": str(cwd or ROOT)}
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [null, out_w, err_w])
            message, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            answer = json.loads(message.split(b"\n", 1)[0] or b"{}")
            if "pid" not in answer or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                raise ForkServerError(f"the fork server would not start {argv}: {answer.get('error', 'no answer')}")
        except (OSError, ValueError) as exc:
            conn.close()
            os.close(out_r)
            os.close(err_r)
            raise ForkServerError(f"the fork server would not start {argv}: {exc}") from exc
        except ForkServerError:
            conn.close()
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            for fd in (null, out_w, err_w):
                os.close(fd)
        return ForkedProcess(list(argv), conn, int(answer["pid"]), fds[0],
                             open(out_r, "r", encoding="utf-8", errors="replace"),
                             open(err_r, "r", encoding="utf-8", errors="replace"))

    def stop(self) -> None:
        """End the server and any child it still has; always reaped."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        self._folder.cleanup()

    def __enter__(self) -> "ForkServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
