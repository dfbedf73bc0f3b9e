"""The operation registry is the one list of operations: every interface exposes exactly its rows.

The command line, the control API, the roles table, the console and the keypad are each read here (the
parser they build, the source they are written in) and compared with `agent.registry`; and no product
module keeps a list of operation names of its own."""

from __future__ import annotations

import argparse
import ast
import inspect
from pathlib import Path

import pytest

from agent import registry, roles
from agent.cli import build_parser
from agent.config import Config
from agent.settings import SCHEMA
from agent.daemon import apispec, cliforms, commands
from agent.engine.effects import EngineError
from agent.errors import UsageError
from agent.journal.states import KINDS
from agent.ui import table

ROOT = Path(__file__).resolve().parent.parent
OPS = set(registry.OPERATIONS)
DEFAULTS = Config({section: {key: setting.default for key, setting in keys.items()} for section, keys in SCHEMA.items()})


def _literal_strings(path: Path, *, calls: tuple[str, ...]) -> set[str]:
    """First string arguments of the named calls (`x.call("op")`, `Call("op")`) in a source file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in calls:
                found.add(node.args[0].value)
    return found


def test_every_row_names_a_function_of_its_kind():
    for row in registry.OPERATIONS.values():
        function = row.function()
        assert callable(function), row.name
        if row.kind == "query":
            assert inspect.iscoroutinefunction(function), row.name
            assert row.handler.startswith("agent.daemon.queries:"), row.name
        else:
            assert row.kind == "plan" and row.handler.startswith("agent.daemon.plans:"), row.name
        assert list(inspect.signature(function).parameters)[:2] == ["daemon", "args" if row.kind == "query" else "a"]


def test_the_modules_of_plans_and_queries_hold_no_operation_the_registry_lacks():
    from agent.daemon import plans, queries
    named = {row.handler.partition(":")[2] for row in registry.OPERATIONS.values()}
    for module in (plans, queries):
        public = {name for name, value in vars(module).items() if inspect.isfunction(value)
                  and value.__module__ == module.__name__ and not name.startswith("_")}
        assert public - named <= {"with_payment"}, (module.__name__, public - named)


def test_the_command_line_reaches_exactly_the_rows_with_a_cli_form():
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for word, rows in cliforms.commands().items():
        assert word in subcommands, word
        sub = subcommands[word]
        flags = {option for action in sub._actions for option in action.option_strings}
        for row in rows:
            for name, arg in row.args.items():
                if not arg.positional:
                    assert registry.flag_of(name, arg) in flags, (row.name, name)
            assert "--json" in flags
            assert ("--password-stdin" in flags) == any(r.role != "cashier" or r.configured_by or r.raised for r in rows)
    reached = {row.name for rows in cliforms.commands().values() for row in rows}
    assert reached == {name for name, row in registry.OPERATIONS.items() if row.cli is not None}


@pytest.mark.parametrize("argv, op, values", [
    (["sale", "12.00"], "sale", {"amount": 1200}),
    (["sale", "12.00", "--code", "281234567890123456"], "wallet_sale", {"amount": 1200, "code": "281234567890123456"}),
    (["sale", "12.00", "--scan"], "wallet_sale", {"amount": 1200}),
    (["correct", "7", "--amount", "9.99"], "correct", {"trace": 7, "amount": 999}),
    (["correct", "7", "--amount", "9.99", "--scan"], "wallet_correct", {"trace": 7, "amount": 999}),
    (["duplicates"], "duplicates", {}),
    (["duplicates", "--fix", "4"], "duplicates_fix", {"id": 4}),
    (["fixes", "--close", "3", "--reason", "paid cash"], "fix_close", {"id": 3, "reason": "paid cash"}),
    (["reversals", "--retry"], "reversal_retry", {}),
    (["reversals", "--handled", "2", "--note", "called"], "reversal_handled", {"id": 2, "note": "called"}),
    (["preauth", "2000.00"], "preauth", {"amount": 200000}),
    (["preauth", "complete", "12", "1980.00", "--advice"], "preauth_complete",
     {"trace": 12, "amount": 198000, "advice": True}),
    (["preauth", "void-completion", "13"], "completion_void", {"trace": 13}),
    (["preauth", "list"], "preauth_list", {}),
    (["settle", "--yes"], "settle", {"confirm": True, "confirm_open_fixes": False}),
    (["refund", "--rrn", "123456789012", "--date", "1207"], "refund", {"rrn": "123456789012", "date": "1207"}),
    (["receipt", "9"], "receipt", {"id": 9}),
])
def test_each_form_of_a_command_chooses_its_row_and_converts_its_words(argv, op, values):
    args = build_parser().parse_args(argv)
    rows = cliforms.commands()[argv[0]]
    row, words = commands.choose(args, rows)
    assert row.name == op
    got = commands.api_args(args, row, words, rows, 2)
    assert {k: v for k, v in got.items() if v is not False or values.get(k) is False} == values
    assert apispec.validate(op, got) == {k: v for k, v in got.items()}  # what the CLI sends, the API takes


@pytest.mark.parametrize("old, new", [
    (["chains"], ["fixes"]),
    (["chains", "--close", "3", "--reason", "paid cash"], ["fixes", "--close", "3", "--reason", "paid cash"]),
    (["settle", "--yes", "--confirm-open-chains"], ["settle", "--yes", "--confirm-open-fixes"]),
])
def test_the_command_line_s_words_and_flags_before_the_rename_are_taken_and_not_listed(old, new):
    parser = build_parser()
    rows = cliforms.commands()[new[0]]
    (row, words), (new_row, new_words) = (commands.choose(parser.parse_args(argv), rows) for argv in (old, new))
    assert row == new_row and words == new_words
    assert commands.api_args(parser.parse_args(old), row, words, rows, 2) == \
        commands.api_args(parser.parse_args(new), new_row, new_words, rows, 2)
    shown = parser.format_help() + next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)) \
        .choices[new[0]].format_help()
    assert new[-1] in shown and "chain" not in shown


def test_the_control_api_takes_the_names_before_the_rename_and_answers_in_today_s():
    assert set(registry.RENAMED.values()) <= set(OPS) | {a for row in registry.OPERATIONS.values() for a in row.args}
    assert not set(registry.RENAMED) & OPS  # an old name never shadows an operation of today
    assert apispec.operation("chains").name == "fixes" and apispec.operation("chain_close").name == "fix_close"
    assert apispec.validate("chain_close", {"id": 3, "reason": "paid cash"}) == {"id": 3, "reason": "paid cash"}
    assert apispec.validate("settle", {"confirm": True, "confirm_open_chains": True}) == \
        {"confirm": True, "confirm_open_fixes": True}
    with pytest.raises(EngineError, match="unknown argument 'confirm_open_chains'"):
        apispec.validate("sale", {"amount": 100, "confirm_open_chains": True})  # only where today's name is taken


@pytest.mark.parametrize("argv, expected", [
    (["sale", "1.00", "--card", "debit", "--code", "28"], "--card does not go with"),
    (["sale", "1.00", "--code", "28", "--scan"], "give one of --code or --scan"),
    (["preauth", "list", "--advice"], "--advice does not go with"),
    (["preauth", "complete", "12"], "preauth complete TRACE AMOUNT"),
    (["refund", "5.00"], "give --trace, or --rrn with --date"),
    (["correct", "12"], "give --amount, or --resume"),
    (["void", "0"], "a trace number must be 1 to 6 digits"),
    (["duplicates", "--fix", "x"], "--fix must be a whole number"),
    (["preauth", "frobnicate"], "unknown preauth action 'frobnicate'"),
    (["reversals", "--retry", "--handled", "3"], "cannot be used together"),
])
def test_a_wrong_command_line_is_one_usage_line(argv, expected):
    args = build_parser().parse_args(argv)
    rows = cliforms.commands()[argv[0]]
    with pytest.raises(UsageError) as refused:
        row, words = commands.choose(args, rows)
        commands.api_args(args, row, words, rows, 2)
    assert expected in str(refused.value) and "\n" not in str(refused.value)


def test_the_roles_table_is_the_registry():
    listed, raised = {}, {}
    for line in roles.table_markdown().splitlines()[2:]:
        role, ops = line.split(" | ")[0].strip("| "), line.split(" | ")[1]
        if role in roles.KEY_CUSTODIANS:  # they hold key components, they run no operation
            continue
        for op in ops.split(", "):
            name, _, argument = op.partition(" ")
            row = registry.OPERATIONS[name]
            if row.raised is not None and argument == f"(`{row.raised[0]}`)":  # with that argument: its own role
                raised[name] = role
            else:
                listed[name] = role
    assert listed == {name: row.role for name, row in registry.OPERATIONS.items()}
    assert raised == {name: row.raised[1] for name, row in registry.OPERATIONS.items() if row.raised} == {
        "sale": "supervisor", "settle": "supervisor"}
    # stored sales moved to the next batch: the supervisor's, even without --yes (the cashier's totals question)
    assert registry.role_for("settle", {"confirm_stored": True}) == "supervisor"
    assert registry.role_for("settle", {"confirm": False}) == "cashier"
    assert registry.role_for("sale", {"keyed": True}) == "supervisor"  # a card keyed by hand: the supervisor's
    assert registry.role_for("sale", {"keyed": False}) == registry.role_for("sale", {}) == "cashier"
    for name, row in registry.OPERATIONS.items():
        assert registry.role_for(name, {"confirm": True, "kind": "config_set", "acknowledge": True}) == row.role
    assert registry.role_for("settle", {"confirm": False}) == "cashier"
    assert registry.role_for("settle", {"confirm": True}) == "supervisor"
    assert registry.role_for("offline_declined", {}) == "cashier"  # reading; acknowledging is the supervisor's
    assert registry.role_for("preauth_complete", {}, DEFAULTS) == ("supervisor" if DEFAULTS.preauth.supervisor_completion
                                                                   else "cashier")
    assert registry.role_for("console_event", {"kind": "login_failed"}) == "cashier"
    assert registry.role_for("console_event", {"kind": "config_set"}) == "technician"
    assert registry.role_for("no_such_thing") is None


def test_money_operations_are_the_journaled_plans_that_send_financial_messages():
    money = registry.money_operations()
    assert {"sale", "wallet_sale", "void", "refund", "correct", "wallet_correct", "duplicates_fix", "settle",
            "preauth", "preauth_complete", "preauth_void", "preauth_release", "completion_void"} == money
    for name in money:
        assert registry.OPERATIONS[name].journaled and registry.OPERATIONS[name].kind == "plan", name


def test_the_console_calls_exactly_its_rows():
    called = set()
    for path in (ROOT / "agent" / "console").glob("*.py"):
        called |= _literal_strings(path, calls=("call",)) & OPS
    assert called == {name for name, row in registry.OPERATIONS.items() if row.console}


def test_the_keypad_calls_exactly_its_rows():
    called = {screen.call for screen in table.STATES.values() if screen.call in OPS}
    for path in (ROOT / "agent" / "ui").glob("*.py"):
        called |= _literal_strings(path, calls=("Call", "SideCall")) & OPS
    assert called == {name for name, row in registry.OPERATIONS.items() if row.keypad}


def test_the_keypad_asks_the_supervisor_password_before_each_supervisor_operation():
    """A busy state whose operation is the supervisor's (by the registry, with the default settings) is
    reached through a password screen of its flow; a cashier's operation never asks one."""
    for state, screen in table.STATES.items():
        if screen.kind != table.BUSY or screen.call not in OPS:
            continue
        flow = state.split(".")[0]
        asks = f"{flow}.password" in table.STATES
        # the arguments the keypad sends: settle confirmed, the declined-after-forwarding sales acknowledged
        role = registry.role_for(screen.call, {"confirm": True, "acknowledge": True}, DEFAULTS)
        if role == "supervisor":
            assert asks, state
        elif screen.call not in ("lookup", "duplicates"):  # a search on the way to a supervisor's step
            assert not asks or registry.OPERATIONS[screen.call].configured_by, state


def _op_name_collections(path: Path):
    """Literal tuples, lists, sets and dict keys of two or more strings that are all operation names, one at
    least not also a transaction kind (the journal's kinds — sale, void, refund… — are a list of their own)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        strings = [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(strings) >= 2 and len(strings) == len(items) and all(s in OPS for s in strings) \
                and any(s not in KINDS for s in strings):
            yield node.lineno, strings


def test_no_product_module_keeps_its_own_list_of_operations():
    found = []
    for path in sorted((ROOT / "agent").rglob("*.py")):
        if path.name == "registry.py":
            continue
        found += [f"{path.relative_to(ROOT)}:{line} {names}" for line, names in _op_name_collections(path)]
    assert found == [], found


def test_the_listing_test_can_fail(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('MONEY = frozenset({"sale", "void", "correct"})\nKINDS = ("sale", "void")\n')
    assert list(_op_name_collections(planted)) == [(1, ["sale", "void", "correct"])]


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(prefix), {o for a in parser._actions for o in a.option_strings}
        return
    for name, sub in subs[0].choices.items():
        yield from _leaf_commands(sub, (*prefix, name))


def test_the_docs_name_every_command_without_json_and_no_other():
    text = (ROOT / "docs" / "operations.md").read_text()
    listed = text.split("<!-- no-json:begin -->", 1)[1].split("<!-- no-json:end -->", 1)[0]
    claimed = {name.strip(" `") for name in listed.split(",")}
    without = {name for name, flags in _leaf_commands(build_parser()) if "--json" not in flags}
    assert claimed == without


def test_an_operation_that_goes_ahead_offline_with_a_flag_names_a_flag_of_its_own():
    with_flag = {name: row for name, row in registry.OPERATIONS.items() if row.offline_with}
    assert with_flag, "preauth_complete --advice queues by design and goes ahead while the link is down"
    for name, row in with_flag.items():
        assert row.offline, f"{name}: offline_with only relaxes a refusal the row makes"
        arg = row.args.get(row.offline_with)
        assert arg is not None and arg.kind == "bool", f"{name}: {row.offline_with!r} is not a flag of the row"
