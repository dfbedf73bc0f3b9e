"""`posim chaos`: a seeded chaos campaign against a real `posim host` and a real `posagent run`.

    posim chaos --seed 7 --ops 2000 --kills 100            # the CI-sized campaign
    posim chaos --ops 100000 --kills 2000 --checkpoint-every 5000   # the long soak
    posim chaos --ops 100000 --kills 2000 --checkpoint-every 5000 --terminals 3   # the same, 3 terminals at once
    posim chaos --seed 7 --ops 300 --kills 20 --keep DIR   # keep the journal, ledger and logs
    posim chaos --seed 11 --ops 400 --kills 10 --power-cuts 200   # power cuts: unsynced writes are lost

Prints a summary table (operations, faults by kind, kills and where they landed, recoveries,
violations, throughput).  On a violation it prints the seed, the journal and ledger rows involved and
a delta-reduced shortest reproducing sequence, and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shlex
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from simulator.chaos.plan import WALLET_SHARE, PlanError, PlanSettings, Step, make_plan
from simulator.chaos.reduce import ddmin
from simulator.chaos.report import summary_table, violation_report
from simulator.chaos.terminals import run_campaign, split


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("chaos", help="seeded chaos campaign: operations, host faults and SIGKILLs; checks bank = journal",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, help="campaign seed (default: random, printed)")
    p.add_argument("--ops", type=int, default=2000, help="cashier operations (default 2000)")
    p.add_argument("--kills", type=int, default=100, help="SIGKILLs of the daemon (default 100)")
    p.add_argument("--power-cuts", type=int, default=0, metavar="N",
                   help="power cuts (journal on the power-cut FUSE filesystem; unsynced writes lost), aimed between "
                        "the fsyncs of an operation or at random moments (default 0; needs /dev/fuse and fuse3)")
    p.add_argument("--fault-rate", type=float, default=0.15, help="share of steps that arm a host fault (default 0.15)")
    p.add_argument("--wallet-share", type=float, default=WALLET_SHARE, metavar="P",
                   help=f"share of the sales paid with a wallet payment code: at once, confirmed on the phone after "
                        f"a delay, or never confirmed and cancelled (default {WALLET_SHARE:g}; its own random "
                        f"stream, so the rest of a seed's plan does not change with it)")
    p.add_argument("--outages", type=int, default=0, metavar="N",
                   help="N windows of 3-12 steps with the line to the bank cut (the host's outage fault): "
                        "store-and-forward on, sales in them read by chip through pcscd (slot 1) and stored, "
                        "forwarded when the line is back; one terminal only")
    p.add_argument("--response-timeout", type=float, default=0.4,
                   help="the daemon's answer timeout in seconds (default 0.4)")
    p.add_argument("--reversal-retries", type=int, default=10,
                   help="the daemon's reversal tries before manual handling (default 10: a reversal owed after "
                        "the faults stop counts as a violation, so it must not run out while they last)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="stop faults and check bank = journal every N operations (default: only at the end)")
    p.add_argument("--tail-check-at-start", action="store_true",
                   help="the restarted daemon checks only the journal's last 2,000 events, not the whole journal "
                        "at each start (the checker checks it all at every checkpoint); for long power-cut runs")
    p.add_argument("--terminals", type=int, default=1, metavar="N",
                   help="run the plan on N terminals side by side, each with its own daemon, journal and host; "
                        "the plan is cut into N contiguous parts (default 1)")
    p.add_argument("--keep", metavar="DIR", help="run in DIR and keep the journal, ledger and logs")
    p.add_argument("--no-reduce", action="store_true", help="on a violation, do not search for a shorter sequence")
    p.add_argument("--reduce-runs", type=int, default=40, help="re-runs the reduction may spend (default 40)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=lambda args: _chaos(args, p))


#: flags that change nothing a campaign does — where it keeps its files, how it prints, how a violation is
#: reduced; every other flag decides the plan or how it runs, so the rerun line carries it
NOT_REPLAYED = frozenset({"help", "keep", "json", "no_reduce", "reduce_runs"})


def rerun_command(parser: argparse.ArgumentParser, args: argparse.Namespace, seed: int) -> str:
    """The `posim chaos` line that runs this campaign again: every flag of `parser` but `NOT_REPLAYED`, with
    its value as parsed (defaults too, so a changed default does not change the rerun), the seed drawn."""
    words = ["posim", "chaos"]
    for action in parser._actions:  # argparse's own list of the flags: a new flag is replayed without a change here
        if not action.option_strings or action.dest in NOT_REPLAYED:
            continue
        value = seed if action.dest == "seed" else getattr(args, action.dest)
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:  # a switch: present or not
            words += [flag] if value else []
        elif value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def plan_digest(steps: Sequence[Step], options: Mapping[str, Any], terminals: int) -> str:
    """A short fingerprint of everything the campaign does: its steps and how they are run."""
    data = {"steps": [asdict(step) for step in steps], "options": options, "terminals": terminals}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _chaos(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rerun = rerun_command(parser, args, seed)
    settings = PlanSettings(seed=seed, ops=args.ops, kills=args.kills, fault_rate=args.fault_rate,
                            response_timeout=args.response_timeout, power_cuts=args.power_cuts,
                            wallet_share=args.wallet_share, outages=args.outages)
    if not 1 <= args.terminals <= 16:
        raise PlanError(f"terminals must be from 1 to 16, got {args.terminals}")
    if args.outages and args.terminals > 1:  # one card reader slot: the chip sales of one terminal at a time
        raise PlanError(f"outages need one terminal (its sales are read by chip through the one reader), got "
                        f"--terminals {args.terminals}")
    steps = make_plan(settings)
    options = dict(response_timeout=args.response_timeout, reversal_retries=args.reversal_retries,
                   checkpoint_every=args.checkpoint_every, tail_check_at_start=args.tail_check_at_start)
    plan = plan_digest(steps, options, args.terminals)
    progress = (lambda text: print(text, file=sys.stderr, flush=True)) if not args.json else None
    directory = Path(args.keep) if args.keep else None
    result = run_campaign(steps, directory, terminals=args.terminals, progress=progress, **options)
    reduced = None
    if result.violations and not args.no_reduce:
        rules = {v.rule for v in result.violations}

        def fails(candidate: tuple[Step, ...]) -> bool:
            with tempfile.TemporaryDirectory(prefix="posim-chaos-reduce-") as tmp:
                again = run_campaign(candidate, Path(tmp), **options)
            return any(v.rule in rules for v in again.violations)

        failing = steps
        if args.terminals > 1:  # reduce the first failing terminal's part of the plan
            parts = split(steps, args.terminals)
            first = next((n for n in range(len(parts)) if any(v.detail.startswith(f"terminal {n + 1}:")
                                                              for v in result.violations)), 0)
            failing = parts[first]
        reduced = ddmin(failing, fails, max_runs=args.reduce_runs)
    if args.json:
        t = result.tally
        print(json.dumps({"seed": seed, "terminals": args.terminals, "rerun": rerun, "plan": plan,
                          "operations": dict(t.operations),
                          "faults_armed": dict(t.faults_armed),
                          "faults_injected": t.faults_injected, "kills": dict(t.kills),
                          "kill_windows": dict(t.kill_windows), "recoveries": t.recoveries,
                          "outages": t.outages, "stored_offline": t.stored,
                          "violations": [asdict(v) for v in result.violations],
                          "reduced": [s.describe() for s in reduced] if reduced else None,
                          "elapsed_s": round(t.elapsed, 2),
                          "ops_per_s": round(sum(t.operations.values()) / t.elapsed, 2) if t.elapsed else None}))
    else:
        print(summary_table(settings, result, terminals=args.terminals, rerun=rerun, plan=plan))
        if result.violations:
            print(violation_report(settings, result, reduced, terminals=args.terminals, rerun=rerun))
    return 1 if result.violations else 0


