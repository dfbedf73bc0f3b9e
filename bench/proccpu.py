"""CPU time from /proc: a process's, a PostgreSQL server's (the postmaster, its reaped children and every live
backend), the whole machine's busy time, and this process's own.

Apart from the benchmarks (`bench.office`, `bench.fleet`, `bench.host`, `bench.engine`, `bench.footprint`), which
take these readings either side of their timed windows: they say nothing of what is measured, only whose
processor time it took.
"""

from __future__ import annotations

import os
import resource

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """utime + stime of one process (seconds)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu(postmaster: int) -> float:
    """The server's CPU: the postmaster's own and its reaped children's, and every live backend's."""
    fields = _stat(postmaster)
    total = sum(int(v) for v in fields[11:15])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                child = _stat(int(entry))
            except OSError:
                continue  # gone meanwhile: its time is in the postmaster's children's now
            if int(child[1]) == postmaster:
                total += int(child[11]) + int(child[12])
    return total / TICK


def machine_busy() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
