"""The import rules of ARCHITECTURE §4 and the connector folder rules of STYLE R1 to R3, checked on the tree."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import registry
from connectors.manifest import ConnectorManifest, settings_schema

ROOT = Path(__file__).resolve().parent.parent


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every absolute module name imported anywhere in ``path`` (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def offending(package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in modules(package):
        for name in imports_of(path):
            if name.startswith(forbidden) and not name.startswith(allowed):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_launcher_imports_neither_engine_nor_connectors() -> None:
    assert offending("launcher", ("engine", "connectors")) == []


def test_ipc_is_a_leaf() -> None:
    assert offending("engine.ipc", ("engine", "connectors", "launcher"), ("engine.ipc",)) == []


def test_connectors_do_not_import_the_engine() -> None:
    assert offending("connectors", ("engine", "launcher"), ("engine.ipc",)) == []


def test_worker_imports_only_ipc_cache_history_and_connectors() -> None:
    allowed = ("engine.ipc", "engine.cache", "engine.history", "engine.worker")
    assert offending("engine.worker", ("engine", "launcher", "aiohttp", "structlog"), allowed) == []


WORKING_DIRECTORY = re.compile(r"\bgetcwd\b|\bcwd\(\)")


def test_no_working_directory_in_engine_or_connectors() -> None:
    """Relative paths resolve against ``ConnectorContext.data_folder``, never the process's working directory."""
    bad = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("engine", "connectors")
        for path in modules(package)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if WORKING_DIRECTORY.search(line)
    ]
    assert bad == []


def floor_of(name: str) -> str:
    """The top-level engine package (or module) a dotted name belongs to: ``engine.api.keys`` -> ``api``."""
    return name.split(".")[1]


def engine_floors() -> dict[str, set[str]]:
    """Which top-level engine packages each one imports (lazy and ``TYPE_CHECKING`` imports included)."""
    graph: dict[str, set[str]] = {}
    for path in modules("engine"):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if dotted == "engine.__init__":
            continue
        floor = floor_of(dotted)
        targets = graph.setdefault(floor, set())
        for name in imports_of(path):
            if name.startswith("engine.") and floor_of(name) != floor:
                targets.add(floor_of(name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted: every import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


KNOWN_CYCLES: list[list[str]] = []
"""Cycles not broken yet. Keep it empty: break a cycle by moving the shared types down a floor, or by
passing the upper floor in from the caller (``create_app(..., ui=engine.web.setup)`` in ``engine.cli``)."""


def test_no_import_cycle_between_engine_packages() -> None:
    assert [cycle for cycle in cycles(engine_floors()) if cycle not in KNOWN_CYCLES] == []


CONNECTOR_FOLDERS = sorted(
    (kind, path.name)
    for kind in ("south", "north")
    for path in (ROOT / "connectors" / kind).iterdir()
    if path.is_dir() and not path.name.startswith("_")
)


def test_every_connector_folder_is_registered_once() -> None:
    table = {("south", module.rsplit(".", 1)[1]) for module in registry.SOUTH.values()} | {
        ("north", module.rsplit(".", 1)[1]) for module in registry.NORTH.values()
    }
    assert set(CONNECTOR_FOLDERS) == table
    assert len(set(registry.SOUTH.values())) == len(registry.SOUTH)
    assert len(set(registry.NORTH.values())) == len(registry.NORTH)


@pytest.mark.parametrize(("kind", "folder"), CONNECTOR_FOLDERS)
def test_connector_folder_shape(kind: str, folder: str) -> None:
    base = ROOT / "connectors" / kind / folder
    for required in ("__init__.py", "manifest.py", "connector.py", "README.md"):
        assert (base / required).is_file(), f"{base} lacks {required}"
    module = importlib.import_module(f"connectors.{kind}.{folder}")
    assert len(module.__all__) == 2 and "MANIFEST" in module.__all__
    manifest: ConnectorManifest = module.MANIFEST
    assert manifest.kind == kind
    table = registry.SOUTH if kind == "south" else registry.NORTH
    assert table[manifest.id] == f"connectors.{kind}.{folder}"
    assert (ROOT / "tests" / "connectors" / kind / folder).is_dir(), "tests mirror the connector"
    documented = set(re.findall(r"^\|\s*`([A-Za-z0-9]+)`", (base / "README.md").read_text(), re.MULTILINE))
    for struct in (manifest.settings, manifest.item_settings):
        if struct is None:
            continue
        schema = settings_schema(struct)
        properties = schema["$defs"][struct.__name__]["properties"]
        missing = set(properties) - documented
        assert not missing, f"README of {folder} does not document {sorted(missing)}"


MAX_FUNCTION_LINES = 60
"""No function of the engine is longer (docstring and signature included): past that, split it."""


def long_functions(package: str, limit: int) -> list[str]:
    found = []
    for path in modules(package):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_engine_function_over_60_lines() -> None:
    assert long_functions("engine", MAX_FUNCTION_LINES) == []


def test_engine_class_stays_small() -> None:
    lines = len((ROOT / "engine" / "engine.py").read_text().splitlines())
    assert lines < 250, f"engine/engine.py has {lines} lines: move a responsibility to its own module"
