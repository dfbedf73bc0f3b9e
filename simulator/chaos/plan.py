"""A campaign plan: a seeded, reproducible list of steps, each a cashier operation with the host fault
armed just before it and, for some, a SIGKILL of the daemon while it runs.  Pure data: the same seed,
operation count and kill count always give the same steps.

Steps name their target loosely (`pick`: the n-th most recent eligible sale, taken modulo how many
there are) so that any sub-list of a plan is still a valid plan — what delta-reduction needs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from agent.errors import UsageError
from simulator.host.faults import FAULT_KINDS

#: cashier operations and their share of a working day (sales dominate; settlement a few times a day)
OPERATION_MIX: dict[str, float] = {
    "sale": 0.525, "void": 0.08, "refund": 0.09, "correct": 0.06, "correct_resume": 0.03, "duplicate_sale": 0.04,
    "duplicates_fix": 0.03, "settle": 0.04, "echo": 0.04,
    # pre-authorization: hold, complete (sometimes above the tolerance: a clean refusal), release
    "preauth": 0.03, "complete": 0.025, "release": 0.01,
}

#: the MTIs an operation can put on the wire (where a fault or an in-flight kill may aim)
OPERATION_MTIS: dict[str, tuple[str, ...]] = {
    "sale": ("0200", "0400"), "duplicate_sale": ("0200",), "void": ("0200", "0400"), "refund": ("0220", "0400"),
    "correct": ("0200", "0220", "0400"), "correct_resume": ("0200", "0220", "0400"),
    "duplicates_fix": ("0200", "0220"), "settle": ("0500", "0320", "0400"),
    "echo": ("0820",), "preauth": ("0100", "0400"), "complete": ("0200", "0400"), "release": ("0100", "0400"),
    "wallet_sale": ("0200", "0100", "0400"),  # the sale, its status queries, the cancel
}

#: the request an in-flight kill holds at the host: the operation's own (settlement: 0500 or upload end)
HELD_MTIS: dict[str, tuple[str, ...]] = {op: mtis[:1] for op, mtis in OPERATION_MTIS.items()} | {
    "correct": ("0200", "0220"), "correct_resume": ("0200", "0220"), "duplicates_fix": ("0200", "0220"),
    "settle": ("0500", "0320")}

#: how a kill is timed: hold the request at the host and kill while it waits; kill after a random
#: short sleep (lands anywhere: before the journal write, between intent and send, after the answer);
#: kill the restarting daemon again during its recovery
KILL_MODES: dict[str, float] = {"in_flight": 0.5, "random": 0.35, "in_recovery": 0.15}

#: in_recovery: the second kill lands this far into the restart, scaled onto how long a start takes
#: (a cold start's length, where it was drawn from, to a forked start's)
START_WINDOW = 0.35

#: how a power cut is timed (the journal on the power-cut filesystem; unsynced data is lost): just before
#: the N-th fsync the operation makes (between two of its fsyncs, or after its last when it makes fewer),
#: or after a random short sleep
POWER_MODES: dict[str, float] = {"power_fsync": 0.75, "power_random": 0.25}
#: sectors of the last unsynced write a cut keeps (0: none, the usual case)
TEAR_SECTORS: dict[int, float] = {0: 0.6, 1: 0.2, 2: 0.1, 8: 0.1}
#: the highest fsync a targeted cut aims at (a sale makes 2, a settlement with its upload many more)
MAX_CUT_AT = 12

CARDS: dict[str, float] = {"debit": 0.45, "credit": 0.45, "low-balance": 0.06, "declined": 0.04}

#: payment codes (扫码): this share of the sales is paid with a wallet code instead of a card, drawn from a
#: random stream of its own, so every other step of a seed's plan is the step it was before wallets
WALLET_SHARE = 0.1
#: how the wallet customer pays (the step's `card`): at once, confirms on the phone after a short delay,
#: or never confirms (the terminal cancels the order at its deadline)
WALLET_PAYERS: dict[str, float] = {"wallet:now": 0.5, "wallet:later": 0.3, "wallet:never": 0.2}
#: the wallet's own host faults on this share of the wallet sales (instead of the sale's fault), from a
#: stream of their own: the order stays "paying" until the terminal cancels it, or is paid just as the
#: cancel arrives (the cancel must undo it)
WALLET_FAULT_SHARE = 0.2
WALLET_FAULTS = ("paying_forever:count=1,mti=0200", "paid_late:count=1,mti=0200")

#: outage windows (the host's `outage:` fault, the line cut): how many steps one lasts, drawn from a
#: stream of their own so a plan without outages is the plan it was; at least one step between two windows
OUTAGE_STEPS = (3, 12)

#: seconds the host holds a request for an in-flight kill (longer than the agent waits, so it is
#: the kill, not the timeout, that ends the wait most of the time)
HOLD_SECONDS = 1.5
MAX_OPS = 10_000_000


class PlanError(UsageError):
    """Campaign settings that cannot make a plan; the message says which and why."""


@dataclass(frozen=True)
class Step:
    number: int          # position in the original plan (kept through reduction, for the report)
    op: str
    amount: int          # minor units: sale amount, refund amount, right amount of a correction
    card: str
    pick: int            # which earlier sale a void/refund/correct/fix acts on
    fault: str | None    # host fault rule armed just before the operation (text form of faults.py)
    kill: str | None     # None or a KILL_MODES key
    kill_after: float    # seconds after the request is sent (random and in_recovery modes)
    cut_at: int = 0      # power_fsync: the power fails just before this fsync of the operation
    tear: int = 0        # power cuts: sectors of the last unsynced write that reach the disk anyway
    outage: bool = False  # the line to the bank is cut during this step (store-and-forward: sales go by chip)

    def describe(self) -> str:
        text = f"#{self.number} {self.op} {self.amount} {self.card} pick={self.pick}"
        if self.fault:
            text += f" fault={self.fault}"
        if self.kill == "power_fsync":
            text += f" power cut before fsync {self.cut_at}" + (f" tearing {self.tear} sectors" if self.tear else "")
        elif self.kill == "power_random":
            text += f" power cut @{self.kill_after:.3f}s" + (f" tearing {self.tear} sectors" if self.tear else "")
        elif self.kill:
            text += f" kill={self.kill}@{self.kill_after:.3f}s"
        if self.outage:
            text += " during an outage"
        return text


@dataclass(frozen=True)
class PlanSettings:
    seed: int
    ops: int
    kills: int
    fault_rate: float = 0.15     # share of steps that arm a host fault
    response_timeout: float = 0.4  # the daemon's answer timeout; delays are chosen around it
    power_cuts: int = 0          # steps that end in a power cut (the journal on the power-cut filesystem)
    wallet_share: float = WALLET_SHARE  # share of the sales paid with a wallet payment code
    outages: int = 0             # windows with the line to the bank cut (store-and-forward on, chip sales stored)

    def __post_init__(self) -> None:
        if not 1 <= self.ops <= MAX_OPS:
            raise PlanError(f"ops must be from 1 to {MAX_OPS}, got {self.ops}")
        if not 0 <= self.kills <= self.ops:
            raise PlanError(f"kills must be from 0 to the number of operations ({self.ops}), got {self.kills}")
        if not 0 <= self.power_cuts <= self.ops - self.kills:
            raise PlanError(f"power cuts must be from 0 to the operations without a kill ({self.ops - self.kills}), "
                            f"got {self.power_cuts}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise PlanError(f"fault rate must be from 0 to 1, got {self.fault_rate}")
        if not 0.0 <= self.wallet_share <= 1.0:
            raise PlanError(f"wallet share must be from 0 to 1, got {self.wallet_share}")
        most = self.ops // (OUTAGE_STEPS[0] + 1)
        if not 0 <= self.outages <= most:
            raise PlanError(f"outages must be from 0 to {most} for {self.ops} operations (a window lasts at least "
                            f"{OUTAGE_STEPS[0]} steps, with one between two), got {self.outages}")


def _weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def random_fault(rng: random.Random, op: str, response_timeout: float) -> str:
    """One fault rule, used once, aimed at one of the operation's MTIs or at whatever comes next."""
    kind = rng.choice(sorted(FAULT_KINDS))
    if kind == "refuse":
        return f"refuse:seconds={rng.choice((0.05, 0.3, 1.0)):g}"
    options = ["count=1"]
    if rng.random() < 0.7:
        options.append(f"mti={rng.choice(OPERATION_MTIS[op])}")
    if kind == "delay":  # in time, or late enough that the agent gives up and reverses
        options.append(f"seconds={rng.choice((response_timeout * 0.3, response_timeout * 1.5)):.3f}")
    return f"{kind}:{','.join(options)}"


def make_plan(settings: PlanSettings) -> tuple[Step, ...]:
    rng = random.Random(settings.seed)
    kill_at = set(rng.sample(range(settings.ops), settings.kills))
    steps = []
    for number in range(settings.ops):
        op = _weighted(rng, OPERATION_MIX)
        amount = rng.choice((rng.randint(100, 20_000), rng.randint(100, 2_000), rng.randint(20_000, 90_000)))
        card = _weighted(rng, CARDS)
        pick = rng.randint(0, 7)
        fault = random_fault(rng, op, settings.response_timeout) if rng.random() < settings.fault_rate else None
        kill = kill_after = None
        if number in kill_at:
            kill = _weighted(rng, KILL_MODES)
            kill_after = rng.uniform(0.0, 0.025) if kill == "random" else rng.uniform(0.0, START_WINDOW)
            if kill == "in_flight":
                kill_after = rng.uniform(0.02, settings.response_timeout * 0.8)
                fault = f"delay:seconds={HOLD_SECONDS:g},count=1,mti={rng.choice(HELD_MTIS[op])}"
        steps.append(Step(number, op, amount, card, pick, fault, kill, kill_after or 0.0))
    return _with_outages(_with_power_cuts(_with_wallet_payments(tuple(steps), settings), settings), settings)


def _with_outages(steps: tuple[Step, ...], settings: PlanSettings) -> tuple[Step, ...]:
    """`settings.outages` windows of `OUTAGE_STEPS` steps with the line cut, from their own random stream, none
    overlapping and at least one step apart (a plan without outages is the same plan as before they existed).
    A window shorter than drawn where the next one starts, or the plan ends."""
    if not settings.outages:
        return steps
    rng = random.Random(f"{settings.seed}/outage")
    low, high = OUTAGE_STEPS
    slots = len(steps) // (low + 1)  # one window may start in each slot: they cannot overlap
    size = len(steps) // slots
    windows = []
    for slot in sorted(rng.sample(range(slots), settings.outages)):
        start = slot * size + rng.randint(0, size - low - 1)
        windows.append((start, min(start + rng.randint(low, high), (slot + 1) * size - 1)))
    cut = {n for start, end in windows for n in range(start, end)}
    return tuple(replace(step, outage=True) if i in cut else step for i, step in enumerate(steps))


def _with_wallet_payments(steps: tuple[Step, ...], settings: PlanSettings) -> tuple[Step, ...]:
    """A share of the sales paid by wallet code, from their own random stream: one draw per step whatever
    it is, so the same seed converts the same sales and nothing else of the plan moves.  A converted step
    keeps its amount and kill, and its fault (the sale's 0200 and 0400 are the wallet sale's too) unless a
    wallet fault of its own (`WALLET_FAULTS`) replaces it."""
    if not settings.wallet_share:
        return steps
    rng = random.Random(f"{settings.seed}/wallet")
    faults = random.Random(f"{settings.seed}/wallet-faults")  # a stream of its own: the payers stay as drawn
    out = []
    for step in steps:
        draw, payer = rng.random(), _weighted(rng, WALLET_PAYERS)
        if step.op == "sale" and draw < settings.wallet_share:
            step = replace(step, op="wallet_sale", card=payer)
            if faults.random() < WALLET_FAULT_SHARE:
                step = replace(step, fault=faults.choice(WALLET_FAULTS))
        out.append(step)
    return tuple(out)


def _with_power_cuts(steps: tuple[Step, ...], settings: PlanSettings) -> tuple[Step, ...]:
    """Power cuts on steps without a kill, from their own random stream (a plan without power cuts is
    the same plan as before they existed)."""
    if not settings.power_cuts:
        return steps
    rng = random.Random(f"{settings.seed}/power")
    free = [s.number for s in steps if s.kill is None]
    chosen = set(rng.sample(free, settings.power_cuts))
    out = []
    for step in steps:
        if step.number in chosen:
            mode = _weighted(rng, POWER_MODES)
            tear = int(_weighted(rng, {str(k): w for k, w in TEAR_SECTORS.items()}))
            step = replace(step, kill=mode, kill_after=rng.uniform(0.0, 0.03) if mode == "power_random" else 0.0,
                           cut_at=rng.randint(1, MAX_CUT_AT) if mode == "power_fsync" else 0, tear=tear)
        out.append(step)
    return tuple(out)


def without_faults(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The same operations with neither faults nor kills (the reduction tries this first)."""
    return tuple(replace(s, fault=None, kill=None, kill_after=0.0, cut_at=0, tear=0) for s in steps)
