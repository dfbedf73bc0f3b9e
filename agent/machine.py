"""One form for every state machine of posagent: (state, event) → next state, declared as data.

A `Machine` is a name, an enum of its states, the names of its events and one table
``{(state, event): next_state}``.  `step(state, event)` is the only way through it: a pair the table
does not list raises `IllegalTransition`, which names the machine, the state and the event (and the
record, when the caller has one).  `diagram()` draws the table as a Mermaid state diagram, so the
pictures in the docs are derived from the same table the code obeys.  (h11's `_state.py`: one table,
one refusal.)
"""

from __future__ import annotations

import re
from enum import Enum
from types import MappingProxyType
from typing import Generic, Iterable, Mapping, TypeVar

from agent.errors import PosagentError

S = TypeVar("S", bound=Enum)


def _shown(value: object) -> str:
    """A state or event as people read it: an enum member by its value, anything else as text."""
    return str(value.value) if isinstance(value, Enum) else str(value)


class IllegalTransition(PosagentError):
    """An event the machine's table does not allow in the state it is in: a bug, or a record changed
    behind the caller's back — never a step to take anyway."""

    def __init__(self, machine: str, state: object, event: str, record: object = None):
        where = machine if record is None else f"{machine} {record}"
        super().__init__(f"{where}: {str(event)!r} is not allowed in state {_shown(state)!r}")
        self.machine = machine
        self.state = _shown(state)
        self.event = str(event)
        self.record = record


class Machine(Generic[S]):
    """A state machine as data.  `states` is the enum of its states (members, or their values, go in;
    members come out); `events` the names of its events; `table` every legal (state, event) → state."""

    def __init__(self, name: str, states: type[S], events: Iterable[str], table: Mapping[tuple[S, str], S],
                 *, initial: S | None = None, refusal: type[IllegalTransition] = IllegalTransition):
        self.name = name
        #: what `step` raises: `IllegalTransition`, or a subclass that also belongs to its layer's family
        self.refusal = refusal
        self.states = states
        self.events: tuple[str, ...] = tuple(events)
        self.initial = initial
        for (state, event), target in table.items():
            for value in (state, target):
                if not isinstance(value, states):
                    raise TypeError(f"{name}: {value!r} is not a {states.__name__}")
            if event not in self.events:
                raise TypeError(f"{name}: event {event!r} is not one of the machine's events")
        if len(set(self.events)) != len(self.events):
            raise TypeError(f"{name}: an event is named twice")
        if not issubclass(refusal, IllegalTransition):
            raise TypeError(f"{name}: a refusal is an IllegalTransition, not {refusal!r}")
        if initial is not None and not isinstance(initial, states):
            raise TypeError(f"{name}: the initial state {initial!r} is not a {states.__name__}")
        self.table: Mapping[tuple[S, str], S] = MappingProxyType(dict(table))

    def state(self, value: object, record: object = None, event: str = "?") -> S:
        """The member for `value` (a member, or what SQL stores); an unknown one is refused."""
        if isinstance(value, self.states):
            return value
        try:
            return self.states(value)
        except ValueError:
            raise self.refusal(self.name, value, event, record) from None

    def step(self, state: object, event: str, record: object = None) -> S:
        """The state `event` leads to from `state`; `IllegalTransition` when the table has no such move."""
        member = self.state(state, record, event)
        try:
            return self.table[(member, event)]
        except KeyError:
            raise self.refusal(self.name, member, event, record) from None

    def allows(self, state: object, event: str) -> bool:
        return (state, event) in self.table

    def events_from(self, state: object) -> tuple[str, ...]:
        """The events the table allows in `state`, in the order the machine names them."""
        return tuple(e for e in self.events if (state, e) in self.table)

    def final_states(self) -> tuple[S, ...]:
        """States with no way out."""
        return tuple(s for s in self.states if not self.events_from(s))

    def diagram(self) -> str:
        """The table as a Mermaid `stateDiagram-v2`: one arrow per (state, event), labelled with the event."""
        lines = ["stateDiagram-v2"]
        for state in self.states:
            if _node(state) != _shown(state):
                lines.append(f"    state \"{_shown(state)}\" as {_node(state)}")
        if self.initial is not None:
            lines.append(f"    [*] --> {_node(self.initial)}")
        for state in self.states:
            moves = [(e, self.table[(state, e)]) for e in self.events if (state, e) in self.table]
            for event, target in moves:
                lines.append(f"    {_node(state)} --> {_node(target)}: {event}")
            if not moves:
                lines.append(f"    {_node(state)} --> [*]")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Machine({self.name!r}, {len(self.states)} states, {len(self.table)} moves)"


def _node(state: Enum) -> str:
    """A Mermaid node id for a state: its value with anything but letters, digits and _ made _."""
    return re.sub(r"\W", "_", _shown(state), flags=re.ASCII)
