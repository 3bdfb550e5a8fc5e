"""Data flows one way: models ← knowledge_base ← service; the pipeline never imports the web framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "models": {"knowledge_base", "service", "training", "eval"},
    "knowledge_base": {"service", "training", "eval"},
    "training": {"service", "eval"},
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_do_not_import_downstream(package):
    for path in (REPO / package).rglob("*.py"):
        bad = imported_roots(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_pipeline_has_no_web_framework():
    assert not imported_roots(REPO / "service" / "pipeline.py") & {"fastapi", "starlette", "uvicorn"}
