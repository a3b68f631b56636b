"""DESIGN.md's import direction: web, scheduler -> channels -> bot -> rewards."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDKS = {"flask", "telegram", "twilio", "apscheduler", "werkzeug", "click"}
FORBIDDEN = {
    "rewards": SDKS | {"bot", "channels", "web", "scheduler"},
    "bot": SDKS | {"channels", "web", "scheduler"},
    "channels": {"web", "scheduler", "flask", "apscheduler"},
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_inward(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {
        f"{path.relative_to(ROOT)} imports {sorted(imported_roots(path) & FORBIDDEN[package])}"
        for path in files
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert not offenders, "\n".join(sorted(offenders))


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom flask import Flask\nif True:\n    import channels.telegram\n")
    assert imported_roots(bad) == {"os", "flask", "channels"}
