"""The states of every state machine are enums (`agent.machine.Machine`: the journal's `TxnState`,
`ReversalState`, `BatchState`, `FixState` shared by its SQL and the engine; the wallet order's, the keypad's
and the console's): no state name is typed as a string anywhere else in the product — not in SQL text, not
in a comparison with a state, not in a state list, not as the state a row is set to.  Only the enum's own
class body spells its values."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import pytest

from agent.journal.states import MACHINES as JOURNAL_MACHINES
from agent.journal.states import CHARGED_STATES, TRANSACTION, UNRESOLVED_TXN_STATES, TxnState, sql_in
from tests.test_state_machines import MACHINES

ROOT = Path(__file__).resolve().parent.parent
#: every state name of every machine (the keypad's "sale.amount", the console's "logged out", ...)
NAMES = {str(s.value) for machine in MACHINES for s in machine.states}
#: the names the journal stores (SQL text, a row's "state", `state=`): its machines' only
STORED = {str(s.value) for machine in JOURNAL_MACHINES for s in machine.states}
SQL_LITERAL = re.compile(r"'(" + "|".join(re.escape(n) for n in sorted(STORED)) + r")'")


def _is_state(node: ast.AST) -> bool:
    """`x.state`, `row["state"]`, `state`, `..._state`: an expression that holds a transaction's state."""
    if isinstance(node, ast.Attribute):
        return node.attr == "state" or node.attr.endswith("_state")
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "state"
    if isinstance(node, ast.Name):
        return node.id == "state" or node.id.endswith("_state")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "state"
    return False


def _names_in(node: ast.AST, names: set[str] = NAMES) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in names]


def _enum_bodies(tree: ast.AST) -> set[int]:
    """The ids of every node inside a class that derives from an enum: where state values are spelled."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", getattr(b, "attr", "")).endswith("Enum")
                                                  for b in node.bases):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def literal_state_names(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line: 'name'` for every state name typed as a string in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_LITERAL.search(node.value):
            found.append(node)  # SQL text: 'approved' inside a statement
        elif isinstance(node, ast.Compare) and any(_is_state(x) for x in (node.left, *node.comparators)):
            found += _names_in(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.endswith("_STATES") for t in targets) and node.value is not None:
                found += _names_in(node.value)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.endswith("_state"):  # _set_txn_state(w, row, "voided")
                for arg in node.args[1:]:
                    found += _names_in(arg)
            found += [n for kw in node.keywords if kw.arg == "state" for n in _names_in(kw.value, STORED)]
        elif isinstance(node, ast.Dict):
            found += [n for k, v in zip(node.keys, node.values)
                      if isinstance(k, ast.Constant) and k.value == "state" for n in _names_in(v, STORED)]
    rel = path.relative_to(root)
    enums = _enum_bodies(tree) | {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # and docstrings
    return sorted({f"{rel}:{n.lineno}: {n.value!r}" for n in found if id(n) not in enums})


def test_no_state_name_is_typed_as_a_string_outside_the_enum():
    modules = sorted((ROOT / "agent").rglob("*.py"))
    assert [hit for module in modules for hit in literal_state_names(module)] == []


PROBE = '''
def f(txn, row, w, conn):
    if txn.state == "approved" or row["state"] in ("sending", "in_doubt") or row.get("state") != "voided":
        conn.execute("SELECT 1 FROM transactions WHERE state = 'voided'")
    _set_txn_state(w, row, "refunded" if w else "refunded_partially")
    KEPT_STATES = ("declined",)
    status = "approved"  # an operation's outcome, not a transaction's state: allowed
    return {"state": "reversed"}, dict(state="resolved_manually"), status
'''


def test_the_walker_finds_every_kind_of_typed_state_name(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    found = literal_state_names(probe, tmp_path)
    assert sorted(line.split(": ", 1)[1] for line in found) == sorted(
        ["'approved'", "'voided'", "'sending'", "'in_doubt'", "'refunded'", "'refunded_partially'", "'declined'",
         "'reversed'", "'resolved_manually'", "\"SELECT 1 FROM transactions WHERE state = 'voided'\""])


def test_values_are_what_sql_stores_and_in_lists_are_generated():
    assert TxnState.IN_DOUBT == "in_doubt" and f"{TxnState.APPROVED}" == "approved"
    assert {state for state, _event in TRANSACTION.table} | set(TRANSACTION.final_states()) == set(TxnState)
    assert sql_in(UNRESOLVED_TXN_STATES) == "('sending', 'in_doubt')"
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (state TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(s,) for s in TxnState])
    got = {r[0] for r in conn.execute(f"SELECT state FROM t WHERE state IN {sql_in(CHARGED_STATES)}")}
    assert got == {"approved", "refunded_partially", "refunded"}
    # the enum binds as its value, so parameters and generated lists agree
    assert conn.execute("SELECT count(*) FROM t WHERE state = ?", (TxnState.VOIDED,)).fetchone()[0] == 1


@pytest.mark.parametrize("bad", [(), ("approved'; DROP TABLE t; --",), ("in doubt",), (1,)])
def test_an_in_list_of_anything_but_state_names_is_refused(bad):
    with pytest.raises(ValueError, match="not a list of state names"):
        sql_in(bad)


PROBE_OTHER_MACHINES = '''
import enum
class Screen(enum.StrEnum):
    IDLE = "idle"  # an enum's own body spells its values: allowed
def g(self, fix, conn, session):
    """A docstring may say 'open' and "logged out"."""
    if self.state == "sale.amount" or fix.state != "open" or session.state in ("logged out",):
        conn.execute("SELECT * FROM batches WHERE state = 'settling'")
    link = {"state": "idle"}  # the link's state, no machine's: the journal's names only are checked here
    return link, "paying"
'''


def test_the_walker_finds_the_other_machines_names_too(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE_OTHER_MACHINES, encoding="utf-8")
    found = literal_state_names(probe, tmp_path)
    assert sorted(line.split(": ", 1)[1] for line in found) == sorted(
        ["'sale.amount'", "'open'", "'logged out'", "\"SELECT * FROM batches WHERE state = 'settling'\""])
