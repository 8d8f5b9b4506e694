"""The house rules of the package, checked by reading its source (no import needed).

- no module over 500 lines (pytest_wsservice and sample_service);
- no import cycle between the package's modules, counting imports under
  ``TYPE_CHECKING`` and inside functions;
- no module imports another module's ``_private`` name;
- the engine (``pytest_wsservice.service``) never imports pytest, even inside a function;
- PyYAML, yarl, websockets and aiohttp are imported only inside functions, except by
  the modules that exist to use them (the clients).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pytest_wsservice", "sample_service")
MAX_LINES = 500
HEAVY = frozenset({"yaml", "yarl", "websockets", "aiohttp"})
#: Modules that may import the heavy libraries at module level: nothing imports them at
#: pytest start (the plugin imports them inside fixtures).
HEAVY_AT_TOP_ALLOWED = frozenset(
    {"pytest_wsservice.clients.http", "pytest_wsservice.clients.websocket", "pytest_wsservice.clients.tests_control"}
)


def _modules(package: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = {name: path for package in PACKAGES for name, path in _modules(package).items()}


class _Import:
    """One import: the module, the names taken from it, whether it runs when the module is
    imported (module level, not under ``TYPE_CHECKING``), and its line."""

    def __init__(self, target: str, names: tuple[str, ...], top_level: bool, line: int) -> None:
        self.target = target
        self.names = names
        self.top_level = top_level
        self.line = line


def _imports(module: str, path: Path) -> list[_Import]:
    """Every import in the module, wherever it is (functions, TYPE_CHECKING blocks), resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[_Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, False)  # counted for cycles like any other import; not run at import time
                continue
            if isinstance(child, ast.Import):
                found.extend(_Import(alias.name, (), top_level, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append(_Import(base, tuple(alias.name for alias in child.names), top_level, child.lineno))
            visit(child, top_level)

    visit(tree, True)
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _edges(module: str) -> set[str]:
    """The package modules ``module`` imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    targets: set[str] = set()
    for imp in IMPORTS[module]:
        if imp.target in MODULES:
            targets.add(imp.target)
        for name in imp.names:
            if f"{imp.target}.{name}" in MODULES:
                targets.add(f"{imp.target}.{name}")
    targets.discard(module)
    return targets


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_at_most_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines; split it by concern (at most {MAX_LINES})"


def _cycles(package: str) -> list[list[str]]:
    """Tarjan's strongly connected components of ``package``'s import graph with more than one module."""
    graph = {module: _edges(module) for module in MODULES if module.split(".")[0] == package}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return cycles


def _private_imports(package: str) -> list[str]:
    return [
        f"{module}:{imp.line} imports {name} from {imp.target}"
        for module, imports in IMPORTS.items()
        for imp in imports
        if module.split(".")[0] == package
        and imp.target != module
        and (imp.target in MODULES or imp.target.split(".")[0] in PACKAGES)
        for name in imp.names
        if name.startswith("_") and not name.startswith("__")
    ]


def test_no_import_cycles() -> None:
    cycles = _cycles("pytest_wsservice")
    assert not cycles, f"import cycles (TYPE_CHECKING and function-level imports count): {cycles}"


def test_no_private_names_of_other_modules() -> None:
    offenders = _private_imports("pytest_wsservice")
    assert not offenders, "make a shared name public instead:\n" + "\n".join(offenders)


def test_sample_service_has_no_cycles_or_private_imports() -> None:
    assert not _cycles("sample_service")
    assert not _private_imports("sample_service")


def test_engine_never_imports_pytest() -> None:
    offenders = [
        f"{module}:{imp.line}"
        for module, imports in IMPORTS.items()
        if module.startswith("pytest_wsservice.service")
        for imp in imports
        if imp.target.split(".")[0] in ("pytest", "_pytest", "pluggy")
        or any(f"{imp.target}.{name}".startswith("pytest_wsservice.plugin") for name in imp.names)
        or imp.target.startswith("pytest_wsservice.plugin")
    ]
    assert not offenders, f"the engine imports pytest (or the plugin) at {offenders}"


def test_heavy_libraries_are_imported_lazily() -> None:
    offenders = [
        f"{module}:{imp.line} imports {imp.target}"
        for module, imports in IMPORTS.items()
        if module.startswith("pytest_wsservice") and module not in HEAVY_AT_TOP_ALLOWED
        for imp in imports
        if imp.top_level and imp.target.split(".")[0] in HEAVY
    ]
    assert not offenders, "import these inside the functions that need them:\n" + "\n".join(offenders)


def test_the_checks_see_the_layout() -> None:
    """The checks above read real modules and real imports (a guard against a vacuous pass)."""
    assert "pytest_wsservice.service.session" in MODULES
    assert "pytest_wsservice.service.recipe" in _edges("pytest_wsservice.service.session")
    assert "pytest_wsservice.service.process" in _edges("pytest_wsservice.plugin.early")  # inside a function
