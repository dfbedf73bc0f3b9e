"""Writes the parts of docs/ that come from the code, between their markers: the configuration
reference (from the schema), the roles table and the state diagrams (each drawn from its machine's table
by `agent.machine.Machine.diagram`).
`make docs` runs it; the tests check that each block equals what is written here."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


#: where each state machine's diagram is drawn (by the machine's name); any other goes to architecture.md
DIAGRAM_PAGES = {"keypad": ("keypad.md", "keypad-diagram"), "console": ("console.md", "console-diagram")}


def machines() -> list:
    """Every `agent.machine.Machine` the product declares: found by reading each module of `agent/` for a
    module-level ``NAME = Machine(...)`` and importing it — so a new machine is drawn without a list to edit.
    The journal's come first, in the order its `MACHINES` names them."""
    import ast
    import importlib
    found = []
    root = DOCS.parent
    for path in sorted((root / "agent").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Machine":
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                module = ".".join(path.relative_to(root).with_suffix("").parts)
                found.append(getattr(importlib.import_module(module), target.id))
    from agent.journal.states import MACHINES
    return [*MACHINES, *(m for m in found if m not in MACHINES)]


def state_diagrams(page: str = "architecture.md") -> str:
    """One Mermaid state diagram per state machine drawn on `page`, each derived from its table."""
    parts = []
    for machine in machines():
        if DIAGRAM_PAGES.get(machine.name, ("architecture.md",))[0] == page:
            parts.append(f"**{machine.name}**\n\n```mermaid\n{machine.diagram()}\n```")
    return "\n\n".join(parts)


def blocks() -> dict[str, tuple[str, str]]:
    """marker name → (page, the block's text)."""
    from agent.config import reference_markdown
    from agent.roles import table_markdown
    return {"config-reference": ("configuration.md", reference_markdown()),
            "roles-table": ("security.md", table_markdown()),
            "state-diagrams": ("architecture.md", state_diagrams()),
            **{marker: (page, state_diagrams(page)) for page, marker in DIAGRAM_PAGES.values()}}


def write() -> None:
    for marker, (page, block) in blocks().items():
        path = DOCS / page
        begin, end = f"<!-- {marker}:begin -->\n", f"<!-- {marker}:end -->"
        text = path.read_text(encoding="utf-8")
        head, rest = text.split(begin, 1)
        path.write_text(head + begin + block + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(DOCS.parent))
    write()
