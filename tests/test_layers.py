"""The layers of `agent/` are a tested fact: every import, at module level or inside a function, points down.

A module may import its own layer and the layers below it, never one above.  The order, lowest first:

    ground floor  the `agent/` top-level modules not placed higher below (errors, money, config, registry, …)
    iso8583       the codec; with keys (the master key's loading, the working keys' store)
    journal       SQLite; with office (the back office's link and the shipper of the journal's events)
    engine        the sans-IO plans (with network management and receipts); with emv, the EMV kernel
    drivers       sockets and devices (with preflight: the files and devices `run` needs)
    ui            the cashier's keypad machine (sans-IO; reaches the daemon through `agent.control_client`)
    reconcile     statements and the reconciler, which the daemon's `reconcile` query runs
    daemon        the asyncio service, the control API's server, the effect interpreter
    console       the technician's serial console, a client of the daemon's API
    cli           `agent.cli` (and `__main__`): the root that imports each package's `cli` module

Nothing is exempt.  Inside a package its modules may import each other, but not in a circle: the modules of
a package, like the packages, form a graph without cycle (an import inside a function counts; a name read
under `if TYPE_CHECKING:` only for an annotation loads nothing and does not).  Across packages the graph has
no cycle.  Importing the engine or the codec loads no storage, event loop or network module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: lowest first; a name is a package under agent/ or a top-level module placed above the ground floor
LAYERS: tuple[tuple[str, ...], ...] = (
    (),  # the ground floor: every other top-level module of agent/
    ("iso8583", "keys"),
    ("journal", "office"),
    ("engine", "emv"),
    ("drivers",),
    ("ui",),
    ("reconcile",),
    ("daemon",),
    ("console",),
    ("cli", "__main__"),
)
LAYER_NAMES = ("ground floor", "iso8583", "journal", "engine", "drivers", "ui", "reconcile", "daemon", "console",
               "cli")
#: the engine's and the codec's promise (principle 1): no storage, no event loop, no network
NOT_IN_THE_CORE = ("sqlite3", "sqlite_utils", "asyncio", "socket", "ssl")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exists(root: Path, name: str) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of an `agent` module in the file, wherever it is written; `from X import
    Y` counts as an import of X.Y when that is a module."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found += [(node.lineno, f"{base}.{alias.name}" if exists(root, f"{base}.{alias.name}") else base)
                      for alias in node.names]
    return sorted({(line, target) for line, target in found if target == "agent" or target.startswith("agent.")})


def unit_of(module: str) -> str:
    """The package a module belongs to (`engine`), or the top-level module's own name (`config`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "agent"


def layer_of(unit: str) -> int:
    return next((n for n, names in enumerate(LAYERS) if unit in names), 0)


def agent_modules(root: Path) -> list[Path]:
    return sorted(p for p in (root / "agent").rglob("*.py") if "__pycache__" not in p.parts)


def upward_imports(root: Path) -> list[str]:
    """`file:line: module (layer) imports module (layer)` for each import that points up."""
    found = []
    for path in agent_modules(root):
        source = module_name(root, path)
        here = layer_of(unit_of(source))
        for line, target in imports_of(root, path):
            there = layer_of(unit_of(target))
            if there > here:
                found.append(f"{path.relative_to(root)}:{line}: {source} ({LAYER_NAMES[here]}) imports {target} "
                             f"({LAYER_NAMES[there]})")
    return found


def unit_cycles(root: Path) -> list[list[str]]:
    """The import cycles between units (packages, and each top-level module on its own)."""
    graph: dict[str, set[str]] = {}
    for path in agent_modules(root):
        source = unit_of(module_name(root, path))
        graph.setdefault(source, set()).update(
            unit_of(target) for _, target in imports_of(root, path) if unit_of(target) != source)
    return find_cycles(graph)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each node that closes one (depth first, in name order), each written from where it
    was entered back to it."""
    cycles, done = [], set()

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            cycles.append(trail[trail.index(node):] + [node])
            return
        if node in done:
            return
        for target in sorted(graph.get(node, ())):
            visit(target, trail + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return cycles


def type_checking_lines(tree: ast.AST) -> set[int]:
    """The lines of `if TYPE_CHECKING:` blocks: names imported there only annotate, nothing is loaded."""
    return {line for node in ast.walk(tree) if isinstance(node, ast.If) and ast.unparse(node.test).endswith(
        "TYPE_CHECKING") for statement in node.body for line in range(statement.lineno, statement.end_lineno + 1)}


def package_of(module: str) -> str | None:
    """The package a module is in (`agent.engine` for `agent.engine.port` and for `agent.engine` itself); None
    for a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def module_cycles(root: Path) -> list[list[str]]:
    """The import cycles between the modules of one package (imports under `if TYPE_CHECKING:` left out)."""
    graph: dict[str, set[str]] = {}
    for path in agent_modules(root):
        source = module_name(root, path)
        skipped = type_checking_lines(ast.parse(path.read_text(encoding="utf-8")))
        graph.setdefault(source, set()).update(
            target for line, target in imports_of(root, path)
            if line not in skipped and target != source and package_of(source) is not None
            and package_of(target) == package_of(source))
    return find_cycles(graph)


# ---------------------------------------------------------------- the contract


def test_every_import_in_agent_points_down_the_layers():
    assert upward_imports(ROOT) == []


def test_no_import_cycle_between_packages_or_top_level_modules():
    assert unit_cycles(ROOT) == []


def test_no_import_cycle_between_the_modules_of_a_package():
    assert module_cycles(ROOT) == []


def test_every_package_of_agent_has_its_layer():
    packages = {p.parent.name for p in (ROOT / "agent").glob("*/__init__.py")}
    placed = {name for names in LAYERS for name in names}
    assert packages - placed == set()
    assert {name for name in placed if not exists(ROOT, f"agent.{name}")} == set()


# ---------------------------------------------------------------- the checker can fail


def plant(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checker_flags_an_upward_import_even_inside_a_function(tmp_path):
    plant(tmp_path, {
        "agent/__init__.py": "",
        "agent/money.py": "from agent.drivers import hostlink\n",
        "agent/engine/__init__.py": "",
        "agent/engine/plans.py": "from . import effects\n\ndef settle():\n    from agent.daemon.service import Daemon\n",
        "agent/engine/effects.py": "from agent.money import format_amount\n",
        "agent/drivers/__init__.py": "",
        "agent/drivers/hostlink.py": "",
        "agent/daemon/__init__.py": "",
        "agent/daemon/service.py": "from ..engine import plans\n",
    })
    assert upward_imports(tmp_path) == [
        "agent/engine/plans.py:4: agent.engine.plans (engine) imports agent.daemon.service (daemon)",
        "agent/money.py:1: agent.money (ground floor) imports agent.drivers.hostlink (drivers)",
    ]
    assert unit_cycles(tmp_path) == [["daemon", "engine", "daemon"]]


def test_the_checker_flags_a_cycle_between_the_modules_of_a_package_even_through_a_function(tmp_path):
    plant(tmp_path, {
        "agent/__init__.py": "",
        "agent/money.py": "from agent import errors\n",
        "agent/errors.py": "from agent import money\n",  # two top-level modules: the unit check's business
        "agent/reconcile/__init__.py": "from agent.reconcile.render import render\n",
        "agent/reconcile/render.py": "from agent.reconcile.statement import Statement\n",
        "agent/reconcile/statement.py": "def text():\n    from agent.reconcile.render import money\n",
        "agent/reconcile/formats.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from agent.reconcile.statement import Statement\n",
        "agent/reconcile/fees.py": "from agent.reconcile import formats\n",
        "agent/engine/__init__.py": "",
        "agent/engine/port.py": "from agent.reconcile import fees\n",
    })
    assert module_cycles(tmp_path) == [
        ["agent.reconcile.render", "agent.reconcile.statement", "agent.reconcile.render"]]
    plant(tmp_path, {"agent/reconcile/statement.py": "from agent.reconcile.formats import money\n"})
    assert module_cycles(tmp_path) == []


# ---------------------------------------------------------------- the sans-IO core loads no I/O


def loaded_by(*modules: str, with_submodules: bool = False) -> list[str]:
    """Which of `NOT_IN_THE_CORE` a fresh interpreter holds after importing `modules` (and all their modules)."""
    code = ("import importlib, pkgutil, sys\n"
            f"for name in {list(modules)!r}:\n"
            "    module = importlib.import_module(name)\n"
            f"    for sub in pkgutil.walk_packages(module.__path__, name + '.') if {with_submodules!r} else ():\n"
            "        importlib.import_module(sub.name)\n"
            f"print(' '.join(m for m in {NOT_IN_THE_CORE!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_importing_the_engines_plans_and_the_codec_loads_no_storage_loop_or_network():
    assert loaded_by("agent.engine.purchases", "agent.engine.card.sale", "agent.iso8583") == []


def test_no_module_of_the_engine_the_emv_kernel_or_the_codec_loads_storage_loop_or_network():
    assert loaded_by("agent.engine", "agent.emv", "agent.iso8583", with_submodules=True) == []
