"""The import rules of the layout (README, "Layout"), read from the source with `ast`.

Every import counts, also those inside functions: a lazy import still ties the
two modules together, it only hides the tie from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("tenor", "ingest", "assistant", "finetune", "evaluation")
WINGS = ("ingest", "assistant", "finetune", "evaluation")
GROUND_FLOOR = ("tenor", "tenor.config", "tenor.console", "tenor.prompt", "tenor.answers", "tenor.uploads")
ROOF = ("tenor.cli", "tenor.quickstart")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def _imported(tree: ast.AST, known: set[str]) -> set[str]:
    """The project modules ``tree`` imports; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imported(ast.parse(path.read_text(), str(path)), known) - {name}
            for name, path in modules.items()}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _edges(graph, source_package: str, target_package: str) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.items() if _in(a, source_package)
                  for b in targets if _in(b, target_package))


def test_finetune_never_imports_the_server():
    assert _edges(import_graph(), "finetune", "assistant") == []


def test_evaluation_scores_with_the_ground_floor_not_finetune():
    assert _edges(import_graph(), "evaluation", "finetune") == []


def test_evaluation_talks_to_the_server_only_through_its_api():
    assert _edges(import_graph(), "evaluation", "assistant") == []


def test_benchmarks_import_tenor_as_installed_not_through_sys_path():
    assert [p.name for p in sorted((REPO / "bench").glob("*.py")) if "sys.path" in p.read_text()] == []


def test_ground_floor_imports_no_wing_and_not_the_cli():
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a in GROUND_FLOOR for b in graph[a]
                    if b.split(".")[0] in WINGS or b in ROOF)
    assert upward == []


def test_ingest_imports_no_other_wing():
    graph = import_graph()
    assert [edge for wing in ("assistant", "finetune", "evaluation") for edge in _edges(graph, "ingest", wing)] == []


def test_nothing_imports_the_cli_module():
    graph = import_graph()
    assert sorted(a for a, targets in graph.items() if "tenor.cli" in targets) == []


def test_only_the_cli_loads_settings():
    """Library modules take settings from their caller; none loads them from the environment itself."""
    loaders = sorted(name for name, path in _modules().items()
                     if "load_settings" in _names(ast.parse(path.read_text(), str(path))))
    assert loaders == ["tenor.config", "tenor.console", "tenor.quickstart"]


def _names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.name.split(".")[-1] for alias in node.names)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return names


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert _cycles(import_graph()) == []


def test_the_rules_see_the_imports_they_forbid():
    """The walk finds imports at any depth, and the circle finder finds circles."""
    tree = ast.parse("def f():\n    from tenor import console\n    import ingest.index\n")
    assert _imported(tree, {"tenor", "tenor.console", "ingest", "ingest.index"}) == {"tenor.console", "ingest.index"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "tenor.config" in graph["tenor.console"] and "ingest.index" in graph["ingest.pipeline"]
