"""Fault injection for the acquirer simulator: rules as data, picked per message, reproducible.

A rule names what goes wrong (`kind`) and which messages it hits: the next `count` messages, only
one `mti`, or each message with a `probability` drawn from a generator seeded with `seed`.  The plan
is pure state: the server asks `plan.pick(mti)` once per request and acts on the answer.

Text form (command line and control channel): ``KIND[:key=value,...]``, for example
``delay:seconds=3,mti=0200,count=1`` or ``corrupt_mac:probability=0.5,seed=7``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agent.errors import UsageError

#: every fault the host can inject, with what it does (docs/simulator.md lists the same table)
FAULT_KINDS: dict[str, str] = {
    "delay": "process the request (money moves), then answer after `seconds` (default 5)",
    "drop_response": "process the request (money moves) and never answer; the connection stays open",
    "drop_before": "close the connection before processing (no money moves)",
    "drop_after": "process the request (money moves), then close the connection without answering",
    "duplicate": "send the answer twice",
    "corrupt_mac": "flip bits in field 64 of the answer",
    "wrong_stan": "answer with field 11 + 1 (re-MACed, so only the STAN check catches it)",
    "wrong_amount": "answer with field 4 + 1 (re-MACed, so only the amount check catches it)",
    "garbage": "answer with a length-prefixed frame of random bytes",
    "decline": "answer 05 (do not honour) to a new financial request without processing (no money moves); a "
               "wallet status query and a repeated advice are answered as usual",
    "refuse": "stop listening: new connections are refused until the rule is cleared or `seconds` pass",
}

#: faults of wallet payments (aim them with mti=0200; on a card sale they do nothing).  Kept apart from
#: FAULT_KINDS so the card chaos campaign's seeded mix stays as it was
WALLET_FAULT_KINDS: dict[str, str] = {
    "paying_forever": "the next wallet sale stays \"paying\" until the terminal cancels it",
    "paid_late": "the next wallet sale is paid only when the terminal's cancel arrives (the cancel must undo it)",
}

#: the link itself down, or the bank's advice service (store-and-forward's tests); apart from FAULT_KINDS for the
#: same reason
LINK_FAULT_KINDS: dict[str, str] = {
    "outage": "the link is down for `seconds`: every open connection is closed and new ones are refused",
    "advices_refused": "answer 96 (system malfunction) to an advice (0220, 0221) without processing it (nothing "
                       "is booked); every other message is processed as usual",
}
#: kinds that act on these MTIs only (any other message passes them by, and they stay armed)
KIND_MTIS: dict[str, tuple[str, ...]] = {"advices_refused": ("0220", "0221")}

#: faults that need the message processed first (the others act before or instead of processing)
PROCESS_FIRST = frozenset({"delay", "drop_response", "drop_after", "duplicate", "corrupt_mac",
                           "wrong_stan", "wrong_amount", "garbage"})

_MAX_COUNT = 1_000_000
_MAX_SECONDS = 3600.0


class FaultSpecError(UsageError):
    """A fault rule that cannot be understood; the message says which part and why."""


@dataclass(frozen=True)
class FaultRule:
    kind: str
    count: int | None = None  # the next N matching messages; None: until cleared
    mti: str | None = None  # only messages with this MTI
    probability: float | None = None  # each matching message with this probability
    seed: int = 0
    seconds: float = 5.0  # for delay, refuse and outage
    skip: int = 0  # let the first N matching messages through (e.g. a fix's second step fails, not its first)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS and self.kind not in WALLET_FAULT_KINDS and self.kind not in LINK_FAULT_KINDS:
            raise FaultSpecError(f"unknown fault {self.kind!r} "
                                 f"(known: {', '.join([*FAULT_KINDS, *WALLET_FAULT_KINDS, *LINK_FAULT_KINDS])})")
        if self.count is not None and not 1 <= self.count <= _MAX_COUNT:
            raise FaultSpecError(f"count must be from 1 to {_MAX_COUNT}, got {self.count}")
        if self.mti is not None and not (len(self.mti) == 4 and self.mti.isascii() and self.mti.isdigit()):
            raise FaultSpecError(f"mti must be 4 digits, got {self.mti!r}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise FaultSpecError(f"probability must be from 0 to 1, got {self.probability}")
        if not 0 <= self.skip <= _MAX_COUNT:
            raise FaultSpecError(f"skip must be from 0 to {_MAX_COUNT}, got {self.skip}")
        if not 0.0 <= self.seconds <= _MAX_SECONDS:
            raise FaultSpecError(f"seconds must be from 0 to {_MAX_SECONDS:g}, got {self.seconds}")

    def to_text(self) -> str:
        parts = []
        if self.count is not None:
            parts.append(f"count={self.count}")
        if self.mti is not None:
            parts.append(f"mti={self.mti}")
        if self.probability is not None:
            parts.append(f"probability={self.probability:g}")
            parts.append(f"seed={self.seed}")
        if self.kind in ("delay", "refuse", "outage"):
            parts.append(f"seconds={self.seconds:g}")
        if self.skip:
            parts.append(f"skip={self.skip}")
        return self.kind + (":" + ",".join(parts) if parts else "")


def parse_rule(text: str) -> FaultRule:
    """``delay:seconds=3,mti=0200,count=1`` → FaultRule; a bad part is a FaultSpecError naming it."""
    kind, _, rest = text.strip().partition(":")
    options: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise FaultSpecError(f"fault option {part!r} needs key=value")
        key = {"p": "probability", "n": "count"}.get(key, key)
        try:
            if key in ("count", "seed", "skip"):
                options[key] = _strict_int(value)
            elif key in ("probability", "seconds"):
                options[key] = float(value)
            elif key == "mti":
                options[key] = value
            else:
                raise FaultSpecError(f"unknown fault option {key!r} (known: count, mti, probability, seed, seconds, skip)")
        except ValueError:
            raise FaultSpecError(f"fault option {key}: not a number: {value!r}") from None
    return FaultRule(kind=kind, **options)  # type: ignore[arg-type]


def _strict_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


@dataclass
class _ActiveRule:
    rule: FaultRule
    remaining: int | None
    rng: random.Random = field(repr=False)
    skip: int = 0


class FaultPlan:
    """The rules in force, in order; the first rule that matches a message decides its fault."""

    def __init__(self, rules: list[FaultRule] | tuple[FaultRule, ...] = ()):
        self._active: list[_ActiveRule] = []
        self.injected: dict[str, int] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: FaultRule) -> None:
        self._active.append(_ActiveRule(rule, rule.count, random.Random(rule.seed), rule.skip))

    def clear(self, kind: str | None = None) -> int:
        """Remove every rule (or every rule of `kind`); returns how many were removed."""
        before = len(self._active)
        self._active = [a for a in self._active if kind is not None and a.rule.kind != kind]
        return before - len(self._active)

    @property
    def rules(self) -> list[FaultRule]:
        return [a.rule for a in self._active]

    def remaining(self) -> list[dict[str, object]]:
        return [{"rule": a.rule.to_text(), "remaining": a.remaining} for a in self._active]

    def refusing(self) -> FaultRule | None:
        """The refuse (or outage) rule in force, if any (it acts on the listener, not on messages)."""
        return next((a.rule for a in self._active if a.rule.kind in ("refuse", "outage")), None)

    def pick(self, mti: str) -> FaultRule | None:
        """The fault for one request with this MTI, consuming one use of the rule that fires."""
        for active in self._active:
            rule = active.rule
            if rule.kind in ("refuse", "outage") or (rule.mti is not None and rule.mti != mti):
                continue
            if mti not in KIND_MTIS.get(rule.kind, (mti,)):
                continue
            if rule.probability is not None and active.rng.random() >= rule.probability:
                continue
            if active.skip > 0:
                active.skip -= 1
                continue
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining <= 0:
                    self._active.remove(active)
            self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
            return rule
        return None
