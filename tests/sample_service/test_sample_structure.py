"""The sample service's house rules, checked from its source: no import cycle, no module over
500 lines, and no module using another module's ``_private`` names.

Every import counts: at the top, inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sample_service

PACKAGE_DIR = Path(sample_service.__file__).parent
PACKAGE = "sample_service"
MAX_LINES = 500


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE_DIR.glob("*.py"))}


def own_imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every import of a module of the package, anywhere in ``tree``."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 1 and node.module:
                found.append((node.module.split(".")[0], names))
            elif node.level == 1:  # from . import x
                found.extend((name, []) for name in names)
            elif node.module and node.module.split(".")[0] == PACKAGE:
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.append((parts[1], names))
                else:
                    found.extend((name, []) for name in names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    found.append((parts[1], []))
    return found


def test_no_import_cycle() -> None:
    trees = modules()
    graph = {
        name: {target for target, _ in own_imports(tree) if target in trees and target != name}
        for name, tree in trees.items()
    }
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph[node]):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif len(path) < len(graph):
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, "import cycles in sample_service: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_over_500_lines() -> None:
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE_DIR.glob("*.py")}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}


def test_no_private_name_from_another_module() -> None:
    used = [
        (name, target, imported)
        for name, tree in modules().items()
        for target, names in own_imports(tree)
        for imported in names
        if imported.startswith("_") and target != name
    ]
    assert used == []
