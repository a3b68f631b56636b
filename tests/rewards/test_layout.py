"""The domain's subpackages keep to what their ``__init__`` docstrings allow: the database
plumbing knows only the tables, and the program file knows nothing of campaigns or storage."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REWARDS = Path(__file__).resolve().parents[2] / "rewards"
# What each subpackage may import from the rest of ``rewards`` (besides itself).
ALLOWED = {
    "storage": {"rewards.models"},
    "program": {"rewards.errors", "rewards.inputs", "rewards.phones", "rewards.models"},
}


def rewards_imports(path: Path) -> set[str]:
    """Modules of ``rewards`` a file imports, ``from rewards import x`` read as ``rewards.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rewards."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "rewards":
                found.update(f"rewards.{a.name}" for a in node.names)
            elif node.module.startswith("rewards."):
                found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_subpackage_imports_only_what_it_may(package: str) -> None:
    own = f"rewards.{package}"
    offenders = {
        f"{path.relative_to(REWARDS.parent)} imports {sorted(bad)}"
        for path in sorted((REWARDS / package).glob("*.py"))
        if (bad := {m for m in rewards_imports(path) if not m.startswith(own)} - ALLOWED[package])
    }
    assert not offenders, "\n".join(sorted(offenders))


def test_no_module_is_left_at_its_old_place() -> None:
    """Moved modules live only in their subpackage: no shim re-exports them from ``rewards``."""
    moved = {p.stem for sub in ALLOWED | {"promotions": set()} for p in (REWARDS / sub).glob("*.py")}
    left = sorted(name for name in moved - {"__init__"} if (REWARDS / f"{name}.py").exists())
    assert not left, f"rewards/ still has {left}"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from rewards import ledger\nfrom rewards.promotions.cron import parse\nimport rewards.models\n")
    assert rewards_imports(bad) == {"rewards.ledger", "rewards.promotions.cron", "rewards.models"}
