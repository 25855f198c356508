"""The package's layering, read from the source: no import cycles among its modules, and
the core and services import no driver, SDK or UI package (imports inside functions and
under TYPE_CHECKING count: an upward dependency is a flaw in the design even when it runs)."""

import ast
from pathlib import Path

import agentcli

PACKAGE = Path(agentcli.__file__).parent
# Packages the core and the services must not import: each belongs to an adapter or a front end.
FORBIDDEN = (
    "sqlite3",
    "openai",
    "typer",
    "click",
    "rich",
    "prompt_toolkit",
    "psycopg",
    "psycopg_pool",
    "fastapi",
    "uvicorn",
    "starlette",
    "mcp",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """Every module path this module imports (absolute), from any place in its source."""
    path = MODULES[name]
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + [node.module or ""])
            else:
                target = node.module or ""
            target = target.rstrip(".")
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found


def internal_graph() -> dict[str, set[str]]:
    graph = {}
    for name in MODULES:
        edges = set()
        for target in imports(name):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # A package re-exporting its own submodules is not a cycle.
            if target and target != name and not target.startswith(name + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(internal_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_and_services_import_no_driver_sdk_or_ui_package():
    offending = {}
    for name in MODULES:
        if name.startswith(("agentcli.core", "agentcli.services")):
            bad = sorted(t for t in imports(name) if t.split(".")[0] in FORBIDDEN)
            if bad:
                offending[name] = bad
    assert offending == {}


def test_core_and_services_import_no_adapter_or_front_end():
    allowed = ("agentcli.core", "agentcli.services")
    offending = {}
    for name in MODULES:
        if name.startswith(allowed):
            bad = sorted(
                t for t in imports(name) if t.startswith("agentcli.") and not t.startswith(allowed)
            )
            if bad:
                offending[name] = bad
    assert offending == {}


def test_the_core_imports_nothing_above_it():
    offending = {
        name: sorted(t for t in imports(name) if t.startswith("agentcli.services"))
        for name in MODULES
        if name.startswith("agentcli.core")
    }
    assert {k: v for k, v in offending.items() if v} == {}
