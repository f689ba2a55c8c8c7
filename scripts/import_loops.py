#!/usr/bin/env python3
"""Print the import cycles between foxden modules (every import, also inside functions, except
those under `if TYPE_CHECKING:`). tests/test_layers.py runs the same analysis."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_files(root: Path) -> dict[str, Path]:
    """Every module under `root` by its dotted name (a package by its own name)."""
    mods: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _targets(mods: dict[str, Path], current: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The names an import statement may import (modules or names in them)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = current.split(".")
        package = parts if mods[current].name == "__init__.py" else parts[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


class _Imports(ast.NodeVisitor):
    """The modules one module imports, skipping `if TYPE_CHECKING:` blocks."""

    def __init__(self, mods: dict[str, Path], current: str) -> None:
        self.mods = mods
        self.current = current
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self._add(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._add(node)

    def _add(self, node: ast.Import | ast.ImportFrom) -> None:
        for target in _targets(self.mods, self.current, node):
            if target in self.mods and target != self.current:
                self.found.add(target)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports, for every module under `root`."""
    mods = module_files(root)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        visitor = _Imports(mods, name)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = visitor.found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's strongly
    connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def mutual_pairs(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of modules that import each other directly."""
    return sorted(
        {(min(a, b), max(a, b)) for a in graph for b in graph[a] if a in graph.get(b, set())}
    )


def main(argv: list[str]) -> int:
    """Print the cycles and mutual pairs; exit status 1 when there is a cycle."""
    graph = import_graph(Path(argv[1] if len(argv) > 1 else "src"))
    groups = cycles(graph)
    pairs = mutual_pairs(graph)
    print(f"{len(groups)} import cycle group(s)")
    for group in groups:
        print("  ", " <-> ".join(group))
    print(f"{len(pairs)} mutual import pair(s)")
    for a, b in pairs:
        print("  ", a, "<->", b)
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
