"""The type checker: `mypy --strict` (configured in setup.cfg's `[mypy]`) on the packages and modules that
are clean, so `make test` fails on a type error there with mypy's own report.

Modules outside the list that these import are read for their types, but their own errors are not
reported here (`--follow-imports=silent`): a package joins the list once it is clean by itself.  mypy's
cache lives in the test's temporary directory, so every run checks from scratch (about 5 seconds; up to 10 on a
busy machine).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests import harness

ROOT = Path(__file__).resolve().parent.parent

#: checked strict; this list only grows (every package of agent/, the simulator and the back office are on it now)
STRICT = [
    "agent/iso8583",
    "agent/keys",
    "agent/emv",
    "agent/engine",
    "agent/journal",
    "agent/drivers",
    "agent/ui",
    "agent/reconcile",
    "agent/console",
    "agent/office",
    "agent/daemon",
    # the ground floor: every module directly in agent/, so a new one is checked from its first commit
    *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "agent").glob("*.py")),
    "simulator",
    "posoffice",
]


def mypy_command(cache_dir: Path) -> list[str]:
    return [sys.executable, "-m", "mypy", "--cache-dir", str(cache_dir), "--follow-imports=silent", *STRICT]


def test_every_listed_package_or_module_exists():
    missing = [path for path in STRICT if not (ROOT / path).exists()]
    assert not missing, f"tests/test_types.py lists what is not there: {missing}"


def test_the_clean_packages_pass_mypy_strict(tmp_path):
    harness.require(importlib.util.find_spec("mypy") is not None,
                    "mypy is not installed (make test installs it with the test extra: pip install -e '.[test]')")
    checked = subprocess.run(mypy_command(tmp_path / "mypy-cache"), cwd=ROOT, capture_output=True, text=True,
                             timeout=600)
    assert checked.returncode == 0, f"mypy --strict finds errors:\n{checked.stdout}{checked.stderr}"
