"""The package dependency rules and the absence of import cycles, checked on the source.

Every .py file under the schemabus packages is parsed with `ast`; nothing is imported. See
docs/architecture.md for the rules and why they are what they are.

(a) Package rules: every import of a schemabus package, at module level or inside a function,
    must go in an allowed direction (ALLOWED below).
(b) No cycles in the module-level import graph between our modules. A node is a module file
    (`pkg/mod.py`, or `pkg/__init__.py` for the package itself). `import a.b` and
    `from a.b import c` point at `a/b/c.py` when `c` is a module, else at `a/b.py` or
    `a/b/__init__.py`. Importing `a.b` also runs the `__init__.py` of every package on the way
    (`a`), so the graph has an edge to those too, except to the importer's own packages, which
    are already being imported: a package's `__init__` importing its own submodules is fine.
    Imports inside functions and under `if TYPE_CHECKING:` do not run at import time and are not
    edges; imports in class bodies and in module-level `if`/`try` blocks are.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PACKAGES = ("formats", "kafka_properties", "http_security", "http_metrics", "registry_client", "serdes", "registry",
            "broker", "rest", "connect", "streams", "cli")

# package -> the schemabus packages it may import (itself included).
ALLOWED: dict[str, frozenset[str]] = {
    "formats": frozenset({"formats"}),
    "kafka_properties": frozenset({"kafka_properties"}),
    # The https listener and basic authentication the registry and the REST Proxy share.
    "http_security": frozenset({"http_security", "kafka_properties"}),
    # Prometheus /metrics and per-request HTTP metrics, shared by every service.
    "http_metrics": frozenset({"http_metrics"}),
    "registry_client": frozenset({"registry_client", "formats", "kafka_properties"}),
    "serdes": frozenset({"serdes", "formats", "registry_client", "kafka_properties"}),
    "registry": frozenset({"registry", "formats", "kafka_properties", "http_security", "http_metrics"}),
    "broker": frozenset({"broker", "formats", "registry_client", "kafka_properties", "http_metrics"}),
    "rest": frozenset({"rest", "formats", "registry_client", "serdes", "kafka_properties", "http_security",
                       "http_metrics"}),
    "connect": frozenset({"connect", "formats", "registry_client", "serdes", "kafka_properties", "http_metrics"}),
    "streams": frozenset({"streams", "formats", "registry_client", "serdes", "kafka_properties"}),
    "cli": frozenset(PACKAGES),
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    path: str  # its file, relative to the repository
    line: int
    statement: str  # the import as written (one name of it)
    target: str  # the schemabus module it names, dotted, submodules resolved
    runs_at_import: bool  # module level (not in a function, not under TYPE_CHECKING)

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


class Tree:
    """The modules of the schemabus packages, by dotted name."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, Path] = {}  # module -> .py file (package -> its __init__.py)
        self.namespaces: set[str] = set()  # directories without __init__.py (broker.handlers)
        self.extensions: set[str] = set()  # compiled helpers (broker._recordscan)
        for package in PACKAGES:
            for path in sorted((root / package).rglob("*")):
                rel = path.relative_to(root)
                if "__pycache__" in rel.parts:
                    continue
                if path.is_dir():
                    if not (path / "__init__.py").exists():
                        self.namespaces.add(".".join(rel.parts))
                elif path.suffix == ".py":
                    parts = rel.with_suffix("").parts
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    self.files[".".join(parts)] = path
                elif path.suffix in (".c", ".so", ".pyd"):
                    self.extensions.add(".".join(rel.parent.parts + (path.name.split(".")[0],)))

    def is_module(self, name: str) -> bool:
        return name in self.files or name in self.namespaces or name in self.extensions

    @staticmethod
    def is_package_file(path: Path) -> bool:
        return path.name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_of(tree: Tree, module: str, path: Path) -> list[Import]:
    rel = path.relative_to(tree.root).as_posix()
    package = module if Tree.is_package_file(path) else module.rpartition(".")[0]
    found: list[Import] = []

    def ours(name: str) -> bool:
        return name.split(".")[0] in PACKAGES

    def visit(node: ast.AST, runs: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            runs = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runs)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name):
                    found.append(Import(module, rel, node.lineno, f"import {alias.name}", alias.name, runs))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level - 1 > len(base_parts) - 1:
                    raise AssertionError(f"{rel}:{node.lineno}: relative import beyond the top-level package")
                base = ".".join(base_parts[:len(base_parts) - (node.level - 1)])
                if node.module:
                    base = f"{base}.{node.module}"
            else:
                base = node.module or ""
            if ours(base):
                written = "." * node.level + (node.module or "")
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if alias.name != "*" and tree.is_module(sub) else base
                    found.append(Import(module, rel, node.lineno, f"from {written} import {alias.name}", target,
                                        runs))
        for child in ast.iter_child_nodes(node):
            visit(child, runs)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), True)
    return found


@pytest.fixture(scope="module")
def tree() -> Tree:
    t = Tree(REPO)
    missing = [p for p in PACKAGES if p not in t.files]
    assert not missing, f"packages not found under {REPO}: {missing}"
    return t


@pytest.fixture(scope="module")
def imports(tree) -> list[Import]:
    found = [imp for module, path in sorted(tree.files.items()) for imp in _imports_of(tree, module, path)]
    assert found, "no imports of schemabus packages found: the collector is broken"
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_package_dependencies(package, imports):
    allowed = ALLOWED[package]
    bad = [imp for imp in imports
           if imp.source.split(".")[0] == package and imp.target.split(".")[0] not in allowed]
    assert not bad, (
        f"{package} may import only {', '.join(sorted(allowed))} (function-level imports included):\n"
        + "\n".join(f"  {imp.where()}" + ("" if imp.runs_at_import else "  (in a function)") for imp in bad))


def test_every_schemabus_import_names_a_module(tree, imports):
    """A name that resolves to nothing (say a module moved by a refactor) would drop an edge
    from the cycle check silently; the import itself would fail at run time anyway."""
    unresolved = [imp for imp in imports if not tree.is_module(imp.target)]
    assert not unresolved, "imports of modules that do not exist:\n" + "\n".join(
        f"  {imp.where()}" for imp in unresolved)


def _edges(tree: Tree, imports: list[Import]) -> dict[str, dict[str, str]]:
    """module -> {imported module: how (the first import that makes the edge)}, module level only."""
    graph: dict[str, dict[str, str]] = {m: {} for m in tree.files}
    for imp in imports:
        if not imp.runs_at_import:
            continue
        own = imp.source.split(".")
        own_packages = {".".join(own[:i]) for i in range(1, len(own) + 1)}
        parts = imp.target.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in own_packages and parent in tree.files:
                graph[imp.source].setdefault(parent, f"{imp.where()}  (runs {parent}'s __init__)")
        if imp.target in tree.files:
            graph[imp.source].setdefault(imp.target, imp.where())
    return graph


def _strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; components of more than one module, or with a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    out.append(sorted(component))
    return out


def _a_cycle(graph: dict[str, dict[str, str]], component: list[str]) -> list[str]:
    """One cycle through the first module of a strongly connected component (breadth-first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1] + [start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # cannot happen for a strongly connected component


def test_no_module_level_import_cycles(tree, imports):
    graph = _edges(tree, imports)
    reports = []
    for component in _strongly_connected(graph):
        cycle = _a_cycle(graph, component)
        steps = "\n".join(f"    {a} -> {b}: {graph[a][b]}" for a, b in zip(cycle, cycle[1:]))
        reports.append(f"  cycle {' -> '.join(cycle)}\n{steps}\n    (all modules in this cycle group: "
                       f"{', '.join(component)})")
    assert not reports, "module-level import cycles:\n" + "\n".join(reports)


def test_the_cycle_check_finds_cycles():
    """The checker itself, on a made-up graph: a -> b -> c -> a, and d importing itself."""
    graph = {"a": {"b": "x"}, "b": {"c": "x"}, "c": {"a": "x"}, "d": {"d": "x"}, "e": {"a": "x"}}
    components = _strongly_connected(graph)
    assert components == [["a", "b", "c"], ["d"]]
    assert _a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert _a_cycle(graph, ["d"]) == ["d", "d"]
