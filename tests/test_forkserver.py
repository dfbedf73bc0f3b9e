"""The fork server that restarts the daemon after a power cut: every child is a new process with its own
pid and memory, only the standard streams it was handed, its exit status reported like Popen's; signals
reach it and no other; the server never leaves a child behind; a bad request gets a clear refusal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from simulator.forkserver import ForkServer, ForkServerError


@pytest.fixture(scope="module")
def server():
    with ForkServer.start("tests.forkprobe:main", preload=("tests.forkprobe",)) as running:
        yield running


def run(server, *argv, timeout=20):
    proc = server.spawn(list(argv))
    code = proc.wait(timeout)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return code, out, err


def test_a_child_runs_main_with_its_arguments_and_streams(server):
    assert run(server, "echo", "posagent", "ready") == (0, "posagent ready\n", "on stderr\n")


@pytest.mark.parametrize("argv, code", [(("exit", "0"), 0), (("exit", "3"), 3), (("sysexit", "4"), 4),
                                        (("unknown",), 2)])
def test_the_exit_status_is_the_programs(server, argv, code):
    assert run(server, *argv)[0] == code


def test_an_exception_in_the_program_is_status_1_with_its_traceback(server):
    code, _, err = run(server, "raise")
    assert code == 1
    assert "RuntimeError: the probe failed on purpose" in err


def test_every_child_is_a_new_process_with_its_own_memory(server):
    seen = []
    for _ in range(3):
        code, out, _ = run(server, "whoami", "x")
        pid, parent, cwd, *argv, touched = out.split()
        assert code == 0 and touched == "False"  # the previous child's change stayed in that child
        assert argv == ["whoami", "x"]  # sys.argv as `python -m` would have set it
        seen.append(int(pid))
        assert int(parent) == server.proc.pid
    assert len(set(seen)) == 3 and os.getpid() not in seen


def test_a_child_has_only_the_streams_it_was_handed_open(server):
    code, out, _ = run(server, "fds")
    assert code == 0
    assert out.split() == ["0", "1", "2", "3"]  # 3: the directory listing /proc/self/fd itself


def test_the_childs_stdin_is_empty(server):
    assert run(server, "stdin")[1] == "''\n"


def test_a_killed_child_reports_the_signal_and_wait_times_out_before(server):
    proc = server.spawn(["sleep", "30"])
    assert proc.stdout.readline() == "sleeping\n"
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.05)
    proc.kill()
    assert proc.wait(10) == -signal.SIGKILL
    assert proc.returncode == -signal.SIGKILL
    proc.kill()  # a second kill after the end is harmless (the pidfd names only that process)
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_sigterm_reaches_the_child(server):
    proc = server.spawn(["sleep", "30"])
    proc.stdout.readline()
    proc.terminate()
    assert proc.wait(10) == -signal.SIGTERM


def test_a_bad_request_is_refused_with_the_reason(server):
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(server.socket_path))
        conn.sendall(json.dumps({"argv": ["echo"]}).encode() + b"\n")  # no streams handed over
        answer = json.loads(conn.makefile().readline())
    assert answer == {"error": "bad request: a request is one JSON line with an argv list and exactly 3 file "
                               "descriptors"}
    assert run(server, "exit", "0")[0] == 0  # and the server serves on


def test_stopping_the_server_ends_its_children():
    with ForkServer.start("tests.forkprobe:main") as running:
        proc = running.spawn(["sleep", "60"])
        assert proc.stdout.readline() == "sleeping\n"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the child outlived its fork server")
    assert proc.wait(1) == -signal.SIGKILL
    with pytest.raises(ForkServerError, match="has exited"):
        running.spawn(["exit", "0"])


def test_an_entry_point_that_does_not_exist_fails_the_start_with_the_reason():
    with pytest.raises(ForkServerError, match="did not start.*no_such_function"):
        ForkServer.start("tests.forkprobe:no_such_function")
    with pytest.raises(ForkServerError, match="MODULE:FUNCTION"):
        ForkServer.start("tests.forkprobe")
