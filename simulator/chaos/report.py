"""What a campaign prints: the summary table, and for a violation the seed, the reduced sequence
and the journal and ledger rows involved."""

from __future__ import annotations

import shlex
from dataclasses import fields

from simulator.chaos.plan import PlanSettings, Step
from simulator.chaos.runner import RunResult
from simulator.host.faults import FAULT_KINDS


def summary_table(settings: PlanSettings, result: RunResult, terminals: int = 1, rerun: str | None = None,
                  plan: str | None = None) -> str:
    t = result.tally
    ops = sum(t.operations.values())
    rows: list[tuple[str, str]] = [
        ("seed", str(settings.seed)),
        ("terminals", str(terminals)),
        *([("rerun", rerun)] if rerun else []),
        *([("plan", plan)] if plan else []),
        ("operations", f"{ops} ({', '.join(f'{k} {v}' for k, v in t.operations.most_common())})"),
        ("faults armed", str(sum(t.faults_armed.values()))),
    ]
    for kind in FAULT_KINDS:
        rows.append((f"  {kind}", f"armed {t.faults_armed.get(kind, 0)}, injected {t.faults_injected.get(kind, '-')}"))
    rows += [("kills (SIGKILL)", f"{sum(t.kills.values())} ({', '.join(f'{k} {v}' for k, v in sorted(t.kills.items()))})")]
    if t.power_cuts:
        rows += [("power cuts", str(sum(t.power_cuts.values())))]
        rows += [(f"  {when}", str(n)) for when, n in sorted(t.power_cuts.items())]
    rows += [(f"  landed {where}", str(n)) for where, n in t.kill_windows.most_common()]
    if t.outages:
        rows += [("outages", f"{t.outages} windows with the line cut, {t.stored} sales stored offline (each "
                             f"checked forwarded once)")]
    rows += [
        ("recoveries", str(t.recoveries)),
        ("checkpoints", str(t.checkpoints)),
        ("violations", str(len(result.violations))),
        ("elapsed", f"{t.elapsed:.1f} s"),
        ("throughput", f"{ops / t.elapsed:.1f} operations/s" if t.elapsed else "-"),
    ]
    if result.last_check is not None:
        c = result.last_check
        rows.append(("last check", f"{c.transactions} journal transactions, {c.cards_checked} cards, "
                                   f"{c.settled_batches} settled batches, {c.files_scanned} files scanned"))
        if "fixes" in c.details:
            rows.append(("fixes", f"{c.details['fixes']}, {len(c.details['open_fixes'])} left open, "
                                  f"{c.details['suspected_duplicates']} suspected duplicate group(s)"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(t.outcomes.items()))
    return "\n".join(lines + [f"{'outcomes'.ljust(width)}  {outcomes}"])


def settings_command(settings: PlanSettings, terminals: int = 1) -> str:
    """A `posim chaos` line for a plan made in code (the command line prints its own, from every flag given):
    each plan setting as its flag, so a new setting is carried without a change here."""
    words = ["posim", "chaos"]
    for field in fields(settings):
        words += [f"--{field.name.replace('_', '-')}", str(getattr(settings, field.name))]
    return shlex.join(words + ["--terminals", str(terminals)])


def violation_report(settings: PlanSettings, result: RunResult, reduced: tuple[Step, ...] | None,
                     terminals: int = 1, rerun: str | None = None) -> str:
    rerun = rerun or settings_command(settings, terminals)
    lines = [f"VIOLATIONS: {len(result.violations)} (seed {settings.seed}, {settings.ops} operations, "
             f"{settings.kills} kills; rerun: {rerun})"]
    lines += [v.render() for v in result.violations[:20]]
    if reduced is not None:
        lines.append(f"shortest reproducing sequence found ({len(reduced)} steps):")
        lines += [f"  {step.describe()}" for step in reduced]
    return "\n".join(lines)
