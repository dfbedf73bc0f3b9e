"""The journal is a facade over small stores, not a class of mixins: each store owns its SQL, reaches
the others only through their public methods, and the facade answers every question of the engine's
port with the store that owns it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from agent.engine.port import METHODS, check_port
from agent.journal import Journal
from agent.journal.facade import Answer
from agent.journal.queries import Queries
from agent.journal.records import Txn
from agent.journal.store import Store

ROOT = Path(__file__).resolve().parent.parent
JOURNAL = ROOT / "agent" / "journal"


def private_reaches(path: Path) -> list[str]:
    """`file:line: what` for each import of another module's private name, and each use of another
    object's private attribute (`self._txns._row`, `other._conn`) — only `self._x` is one's own."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    libraries = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
                 if not a.name.startswith("agent")}  # e.g. argparse._SubParsersAction: not ours to judge
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent"):
            found += [f"{path.name}:{node.lineno}: imports {a.name}" for a in node.names
                      if a.name.startswith("_") and a.name != "__future__"]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls", *libraries)):
                found.append(f"{path.name}:{node.lineno}: reaches {ast.unparse(node)}")
    return found


def test_no_journal_module_reaches_another_ones_privates():
    assert [hit for module in sorted(JOURNAL.glob("*.py")) for hit in private_reaches(module)] == []


def test_the_walker_finds_a_private_import_and_a_private_reach(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from agent.journal.store import _Writer, Core\n"
                     "class S:\n    def f(self):\n        self._txns._row(1)\n        return self._conn\n",
                     encoding="utf-8")
    assert private_reaches(probe) == ["probe.py:1: imports _Writer", "probe.py:4: reaches self._txns._row"]


def test_the_journal_is_a_composition_not_a_class_of_mixins():
    assert Journal.__mro__ == (Journal, object)
    stores = {name: cls for name, cls in inspect.getmembers(__import__("agent.journal", fromlist=["*"]))
              if inspect.isclass(cls) and issubclass(cls, Store) and cls is not Store}
    assert {"Transactions", "Batches", "Reversals", "Counters", "Queries", "Holds", "Fixes", "HotPath"} <= set(stores)


def test_every_module_of_the_journal_is_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in JOURNAL.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path / "journal.db", fingerprint_key=b"k" * 32, clock=lambda: 1_700_000_000.0)
    yield j
    j.core.close()


def test_each_question_is_answered_by_the_store_that_owns_it(journal):
    answers = {name: value for name, value in vars(Journal).items() if isinstance(value, Answer)}
    assert set(METHODS) <= set(answers)  # the port's questions are all declared on the facade
    for name, answer in answers.items():
        method = getattr(journal, name)
        assert method.__self__ is answer.store(journal) and method.__func__ is answer.method, name
        assert vars(journal)[name] is method  # bound once: later calls go straight to the store
    check_port(journal)


def facade_differences(port: dict[str, inspect.Signature], facade: type) -> list[str]:
    """Where the facade's declaration of a port question differs from the port: missing, or a parameter
    (name, kind, default, annotation) or the result written otherwise; an extra parameter needs a default."""
    problems = []
    for name, wanted in port.items():
        answer = vars(facade).get(name)
        if not isinstance(answer, Answer):
            problems.append(f"{name}: not declared")
            continue
        have = inspect.signature(answer.method)
        have = have.replace(parameters=list(have.parameters.values())[1:])  # the store's self
        extra = [p for p in have.parameters.values() if p.name not in wanted.parameters]
        common = have.replace(parameters=[p for p in have.parameters.values() if p.name in wanted.parameters])
        if str(common) != str(wanted) or any(p.default is p.empty for p in extra):
            problems.append(f"{name}: the port has {wanted}, the facade {have}")
    return problems


def test_the_facade_declares_each_question_as_the_port_asks_it():
    assert facade_differences(METHODS, Journal) == []


def test_a_facade_that_differs_from_the_port_is_caught():
    def port(self, txn_id: int, *, reason: str) -> Txn:
        ...

    wanted = inspect.signature(port)
    wanted = wanted.replace(parameters=list(wanted.parameters.values())[1:])
    assert facade_differences({"get": wanted, "no_such_question": wanted}, Journal) == [
        "get: the port has (txn_id: 'int', *, reason: 'str') -> 'Txn', the facade (txn_id: 'int') -> 'Txn'",
        "no_such_question: not declared"]
    with pytest.raises(TypeError, match=r"Journal.find is answered by Queries.get: give it that name"):
        Answer(lambda journal: journal.queries, Queries.get).__set_name__(Journal, "find")  # as `class` calls it


def test_the_stores_share_one_write_path_and_one_chain(journal):
    txn = journal.begin("sale", amount=1234, currency="156", pan="6226090000000048", entry_mode="051",
                        operator="01", role="cashier", request=lambda trace, batch: {"11": f"{trace:06d}"})
    journal.complete(txn.id, approved=True, response_code="00", rrn="000000000001", auth_code="A1",
                     response={"39": "00"})
    journal.set_state("probe", "1")
    journal.record_event("probe.done", {"ok": True}, operator="01", role="cashier")
    kinds = [r[0] for r in journal.core.conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["batch.open", "txn.begin", "txn.complete", "state.set", "probe.done"]
    assert journal.verify().ok and journal.get(txn.id).state == "approved"
