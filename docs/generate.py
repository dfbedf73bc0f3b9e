"""Writes the parts of docs/ that come from the code, between their markers: the configuration
reference (from the schema), the roles table and the state diagrams (from the transition tables).
`make docs` runs it; the tests check that each block equals what is written here."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def state_diagrams() -> str:
    """One Mermaid state diagram per state machine of the journal, read from `TRANSITIONS`."""
    from agent.journal.states import TRANSITIONS
    parts = []
    for machine, table in TRANSITIONS.items():
        lines = [f"**{machine}**", "", "```mermaid", "stateDiagram-v2"]
        for state, targets in table.items():
            for target in sorted(str(t) for t in targets):
                lines.append(f"    {state} --> {target}")
            if not targets:
                lines.append(f"    {state} --> [*]")
        lines.append("```")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def blocks() -> dict[str, tuple[str, str]]:
    """marker name → (page, the block's text)."""
    from agent.config import reference_markdown
    from agent.roles import table_markdown
    return {"config-reference": ("configuration.md", reference_markdown()),
            "roles-table": ("security.md", table_markdown()),
            "state-diagrams": ("architecture.md", state_diagrams())}


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
