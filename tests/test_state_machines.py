"""Every state machine of posagent has one form (`agent.machine.Machine`): random events either step as its
table says or are refused with the one `IllegalTransition` naming the machine, the state and the event; no
step leaves the machine's enum; each diagram in the docs reads back into exactly its table; no other
refusal type for a transition is left in the product."""

from __future__ import annotations

import ast
import enum
import importlib.util
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from agent.errors import PosagentError
from agent.machine import IllegalTransition, Machine

ROOT = Path(__file__).resolve().parent.parent


def _generate():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATE = _generate()
MACHINES = GENERATE.machines()
BY_NAME = {m.name: m for m in MACHINES}


def test_every_machine_of_the_product_is_found():
    assert set(BY_NAME) == {"transaction", "reversal", "batch", "fix", "wallet order", "keypad", "console"}
    assert len(BY_NAME) == len(MACHINES), "two machines share a name"
    for machine in MACHINES:
        assert issubclass(machine.states, enum.Enum) and machine.table, machine.name


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_events_step_by_the_table_or_are_refused_by_name(machine: Machine, data):
    """Any sequence of events — the machine's own and ones it has never heard of — from any state."""
    state = data.draw(st.sampled_from(list(machine.states)), label="start")
    events = st.one_of(st.sampled_from(machine.events), st.sampled_from(["", "approved", "bogus", "CANCEL"]))
    for event in data.draw(st.lists(events, max_size=30), label="events"):
        if (state, event) in machine.table:
            after = machine.step(state, event)
            assert after is machine.table[(state, event)]
            assert isinstance(after, machine.states) and after in list(machine.states)
            state = after
        else:
            with pytest.raises(IllegalTransition) as refused:
                machine.step(state, event, record=7)
            error = refused.value
            assert (error.machine, error.state, error.event, error.record) == (
                machine.name, str(state.value), event, 7)
            assert str(error) == f"{machine.name} 7: {event!r} is not allowed in state {str(state.value)!r}"
            assert isinstance(error, PosagentError) and "\n" not in str(error)


def test_the_journals_refusal_is_also_a_journal_error_naming_the_transaction():
    from agent.journal.errors import JournalError
    from agent.journal.states import TRANSACTION, FIX
    with pytest.raises(JournalError) as refused:
        TRANSACTION.step("declined", "approve", 12)
    assert isinstance(refused.value, IllegalTransition) and refused.value.txn_id == 12
    assert str(refused.value) == "transaction 12: 'approve' is not allowed in state 'declined'"
    with pytest.raises(JournalError) as refused:
        FIX.step("done", "close", 3)
    assert refused.value.txn_id is None and str(refused.value) == "fix 3: 'close' is not allowed in state 'done'"


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_a_state_outside_the_enum_is_refused_too(machine: Machine):
    event = machine.events[0]
    with pytest.raises(IllegalTransition, match=f"^{re.escape(machine.name)}: '{event}' is not allowed in state "
                                                f"'no such state'$"):
        machine.step("no such state", event)
    # a stored value (what SQL or a caller holds) is its member
    some_state = next(s for s, _ in machine.table)
    assert machine.state(some_state.value) is some_state


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_the_diagram_reads_back_into_exactly_the_table(machine: Machine):
    diagram = machine.diagram().splitlines()
    assert diagram[0] == "stateDiagram-v2"
    names = {s.value: s for s in machine.states}
    aliases = {}
    for line in diagram[1:]:
        found = re.fullmatch(r'    state "(.+)" as (\w+)', line)
        if found:
            aliases[found[2]] = found[1]
    node = {**{v: v for v in names}, **aliases}
    arrows, finals = {}, set()
    for line in diagram[1:]:
        found = re.fullmatch(r"    (\S+) --> (\S+?)(?:: (\S+))?", line)
        if not found:
            continue
        source, target, event = found.groups()
        if source == "[*]":
            assert names[node[target]] is machine.initial
        elif target == "[*]":
            finals.add(names[node[source]])
        else:
            arrows[(names[node[source]], event)] = names[node[target]]
    assert arrows == dict(machine.table)
    assert finals == set(machine.final_states())


def test_every_machine_is_drawn_in_the_docs():
    drawn = {marker: block for marker, (_page, block) in GENERATE.blocks().items() if "diagram" in marker}
    text = "\n".join(drawn.values())
    for machine in MACHINES:
        assert f"**{machine.name}**\n\n```mermaid\n{machine.diagram()}\n```" in text, machine.name
    for marker, (page, block) in GENERATE.blocks().items():
        if "diagram" in marker:
            assert block.strip() in (ROOT / "docs" / page).read_text(encoding="utf-8"), f"run `make docs` ({page})"


class Light(enum.StrEnum):
    RED = "red"
    GREEN = "green"


class Other(enum.Enum):
    X = "x"


def test_a_machine_is_refused_when_its_table_is_not_made_of_its_own_states_and_events():
    with pytest.raises(TypeError, match="'red' is not a Light"):
        Machine("light", Light, ("go",), {("red", "go"): Light.GREEN})
    with pytest.raises(TypeError, match="is not a Light"):
        Machine("light", Light, ("go",), {(Light.RED, "go"): Other.X})
    with pytest.raises(TypeError, match="event 'stop' is not one of the machine's events"):
        Machine("light", Light, ("go",), {(Light.RED, "stop"): Light.GREEN})
    with pytest.raises(TypeError, match="named twice"):
        Machine("light", Light, ("go", "go"), {})
    with pytest.raises(TypeError, match="a refusal is an IllegalTransition"):
        Machine("light", Light, ("go",), {}, refusal=ValueError)
    light = Machine("light", Light, ("go",), {(Light.RED, "go"): Light.GREEN}, initial=Light.RED)
    assert light.step("red", "go") is Light.GREEN and light.final_states() == (Light.GREEN,)
    assert light.diagram() == "stateDiagram-v2\n    [*] --> red\n    red --> green: go\n    green --> [*]"


#: exception classes that once refused a transition, each machine its own
OLD_REFUSALS = ("ConsoleStateError", "WalletStateError")


def test_no_machine_has_a_refusal_of_its_own_or_a_table_outside_the_form():
    """The one refusal is `IllegalTransition`; no module keeps a `TRANSITIONS` table or a `next_state` of its
    own, nor calls the old `check_transition`."""
    found = []
    for path in sorted((ROOT / "agent").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and (node.name in OLD_REFUSALS or node.name == "IllegalTransition"
                                                   and path.name != "machine.py"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: class {node.name}")
            if isinstance(node, ast.FunctionDef) and node.name in ("next_state", "check_transition"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: def {node.name}")
        for node in tree.body:  # a module-level table of the old shapes
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {t.id} =" for t in targets
                      if isinstance(t, ast.Name) and t.id in ("TRANSITIONS", "PAYING")]
    assert found == []
