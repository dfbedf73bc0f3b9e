"""Delta-reduction (ddmin) of a failing plan: the shortest sub-list of steps that still fails the
same way, within a budget of re-runs.  Runs are real processes, so a step's timing may differ from one
run to the next: a candidate counts as failing only if it fails when tried."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def ddmin(items: Sequence[T], fails: Callable[[tuple[T, ...]], bool], *, max_runs: int = 60) -> tuple[T, ...]:
    """Zeller's ddmin: split into n chunks, keep a failing chunk or complement, refine; stop at `max_runs`."""
    current = tuple(items)
    n = 2
    runs = 0
    while len(current) >= 2 and runs < max_runs:
        size = len(current) // n
        chunks = [current[i * size:(i + 1) * size] if i < n - 1 else current[i * size:] for i in range(n)]
        reduced = False
        for i, chunk in enumerate(chunks):
            complement = tuple(x for j, c in enumerate(chunks) if j != i for x in c)
            for candidate in (chunk, complement) if n > 2 else (chunk,):
                if runs >= max_runs or not candidate:
                    continue
                runs += 1
                if fails(candidate):
                    current = candidate
                    n = max(n - 1, 2) if candidate is complement else 2
                    reduced = True
                    break
            if reduced:
                break
        if not reduced:
            if n >= len(current):
                break
            n = min(len(current), n * 2)
    return current
