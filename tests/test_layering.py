"""Data flows one way: models ← knowledge_base ← service ← (training, eval); the pipeline never imports the
web framework; eval reaches the service only through the pipeline's public contract; no import cycles.

The rule for the two packages at the end of the flow (docs/architecture.md, "Layers"):

- ``eval`` imports ``models``, ``knowledge_base``, ``training`` (the escalation data reader) and, of the
  service, only ``service.pipeline`` (its
  public names: the contract, the factory, the settings it is built from); ``eval/bench``, which starts
  real servers, also ``service.cluster`` (the replica manager). Never ``service.runtime`` (the
  composition root), ``service.config``, ``service.api`` or ``service.cli``.
- ``service`` never imports ``eval`` or ``training``, except ``service/cli`` (the entry point, the one
  place that sees everything), and there only inside command bodies.
- ``training`` imports ``models`` and ``knowledge_base`` only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "knowledge_base", "service", "training", "eval")
FORBIDDEN = {
    # package → what it must never import (a package or a module, with everything under it)
    "models": {"knowledge_base", "service", "training", "eval"},
    "knowledge_base": {"service", "training", "eval"},
    "training": {"service", "eval"},
    "eval": {"service.runtime", "service.config", "service.api", "service.cli", "service.app"},
}
WEB = {"fastapi", "starlette", "uvicorn"}


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


def imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved); ``top_level_only``:
    those imported when the module is (not inside a function body)."""
    tree = ast.parse(path.read_text("utf-8"))
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    # top_level_only: module scope, including if/try blocks, but not function or class bodies
    nodes = [n for stmt in tree.body for n in _scope(stmt)] if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            # ``from . import x`` / ``from pkg import submodule``: the submodule is imported too
            out |= {f"{module}.{alias.name}" for alias in node.names if _is_module(f"{module}.{alias.name}")}
    return out


def _scope(stmt: ast.stmt):  # noqa: ANN202
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    yield stmt
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.stmt):
            yield from _scope(child)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def source_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_do_not_import_downstream(package):
    for path in source_files(package):
        imported = imported_modules(path)
        bad = {m for m in imported for f in FORBIDDEN[package] if m == f or m.startswith(f + ".")}
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_pipeline_has_no_web_framework():
    files = sorted((REPO / "service" / "pipeline").glob("*.py"))
    assert len(files) > 5
    for path in files:
        assert not imported_roots(path) & WEB, f"{path.relative_to(REPO)} imports the web framework"


def test_eval_reaches_the_service_only_through_the_pipeline_contract():
    for path in source_files("eval"):
        allowed = {"service.pipeline"} | ({"service.cluster"} if "bench" in path.parts else set())
        used = {m for m in imported_modules(path) if m.split(".")[0] == "service"}
        assert used <= allowed, f"{path.relative_to(REPO)} imports {sorted(used - allowed)}"


def test_only_the_cli_imports_eval_and_training_and_only_in_command_bodies():
    for path in source_files("service"):
        late = {m.split(".")[0] for m in imported_modules(path)} & {"eval", "training"}
        if path.relative_to(REPO).parts[:2] != ("service", "cli"):
            assert not late, f"{path.relative_to(REPO)} imports {late}"
        early = {m.split(".")[0] for m in imported_modules(path, top_level_only=True)} & {"eval", "training"}
        assert not early, f"{path.relative_to(REPO)} imports {early} at import time"


def test_no_import_cycles():
    """Between modules, counting the imports made when a module is imported (a cycle there is an
    import-order bug waiting to happen; a lazy import inside a function is how an entry point reaches
    across, and is not counted)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in source_files(package):
            name = _module_name(path)
            deps = {m for m in imported_modules(path, top_level_only=True) if m.split(".")[0] in PACKAGES}
            # importing a.b.c imports the packages a and a.b first
            graph[name] = {d for d in deps if d != name and _is_module(d) and not name.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
