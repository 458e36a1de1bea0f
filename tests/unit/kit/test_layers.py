"""The package's import graph keeps its layers: no cycles, a domain that reaches no server, an
application that reaches the servers only through the composition root.

The graph is read from the source with `ast`, imports inside functions included (a lazy import is
still a dependency); imports under ``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import banku

PACKAGE = Path(banku.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                    "typing.TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every module ``path`` imports (banku's own resolved to modules, others by their full
    name), at any depth of the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            for child in node.orelse:  # the else branch does run
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    edges: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = set()
        for imported in imports_of(path, modules):
            # `import banku.domain.events` also runs banku/__init__ and banku/domain/__init__,
            # but a package's __init__ is not a layer of its own: only the module itself counts.
            if imported in modules and imported != name:
                targets.add(imported)
            elif not imported.startswith("banku"):
                targets.add(imported)
        edges[name] = targets
    return edges


GRAPH = graph()


def reaches(start: str) -> set[str]:
    """Every module reachable from ``start`` through imports (third-party names included)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in GRAPH.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def in_layer(prefix: str) -> list[str]:
    return sorted(m for m in GRAPH if m == prefix or m.startswith(prefix + "."))


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in GRAPH:
                continue
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
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            connect(node)
    return found


def forbidden(module: str, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in reaches(module)
                  if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones():
    # rules imports the ledger for type hints only; the projector opens Kafka's adapters lazily.
    assert "banku.domain.ledger" not in GRAPH["banku.domain.rules"]
    assert "banku.adapters.kafka.event_log" in GRAPH["banku.application.projector"] or \
        "banku.bootstrap" in GRAPH["banku.application.projector"]
    assert "banku.domain.events" in GRAPH["banku.domain.rules"]


def test_no_import_cycle_inside_the_package():
    assert cycles() == []


def test_the_domain_reaches_no_server_no_configuration_and_no_outer_layer():
    outer = ("kafka", "redis", "banku.config", "banku.defaults", "banku.adapters", "banku.stack",
             "banku.lab", "banku.application", "banku.cli", "banku.lessons", "banku.bootstrap")
    offenders = {module: forbidden(module, outer) for module in in_layer("banku.domain")}
    assert {m: found for m, found in offenders.items() if found} == {}


# The application may reach the adapters only through the composition root (`banku.bootstrap`),
# which is where a module picks its adapters. Known offenders (none may be added): none left.
KNOWN_OFFENDERS: set[str] = set()


def test_the_application_reaches_servers_only_through_the_composition_root():
    servers = ("kafka", "redis", "banku.adapters")
    offenders = set()
    for module in in_layer("banku.application"):
        direct = {t for t in GRAPH[module] if t != "banku.bootstrap"}
        seen: set[str] = set()
        todo = list(direct)
        while todo:  # what the module reaches without passing through the composition root
            target = todo.pop()
            if target in seen or target == "banku.bootstrap":
                continue
            seen.add(target)
            todo.extend(GRAPH.get(target, ()))
        if any(s == p or s.startswith(p + ".") for s in seen for p in servers):
            offenders.add(module)
    assert offenders == KNOWN_OFFENDERS


def test_at_most_ten_modules_at_the_top_of_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top
