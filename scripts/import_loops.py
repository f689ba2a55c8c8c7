#!/usr/bin/env python3
"""Print the import cycles between foxden modules (every import, also inside functions, except
those under `if TYPE_CHECKING:`)."""

import ast
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
mods = {}
for p in root.rglob("*.py"):
    name = ".".join(p.relative_to(root).with_suffix("").parts)
    if name.endswith(".__init__"):
        name = name[:-9]
    mods[name] = p
graph = {m: set() for m in mods}


def resolve(cur, node):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = cur.split(".")
        pkg = parts if mods[cur].name == "__init__.py" else parts[:-1]
        pkg = pkg[: len(pkg) - node.level + 1]
        base = ".".join(pkg + ([base] if base else []))
    out = [base]
    out += [f"{base}.{a.name}" for a in node.names]
    return out


class V(ast.NodeVisitor):
    def __init__(s, cur):
        s.cur = cur

    def visit_If(s, node):
        t = node.test
        if (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
            isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
        ):
            for n in node.orelse:
                s.visit(n)
            return
        s.generic_visit(node)

    def visit_Import(s, node):
        s.add(node)

    def visit_ImportFrom(s, node):
        s.add(node)

    def add(s, node):
        for t in resolve(s.cur, node):
            if t in mods and t != s.cur:
                graph[s.cur].add(t)


for m, p in mods.items():
    V(m).visit(ast.parse(p.read_text()))
# strongly connected components (Tarjan)
idx, low, st, on, sccs, i = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def sc(v):
    idx[v] = low[v] = i[0]
    i[0] += 1
    st.append(v)
    on.add(v)
    for w in graph[v]:
        if w not in idx:
            sc(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))


for v in graph:
    if v not in idx:
        sc(v)
pairs = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph[b]})
print(f"{len(sccs)} import cycle group(s)")
for c in sccs:
    print("  ", " <-> ".join(c))
print(f"{len(pairs)} mutual import pair(s)")
for a, b in pairs:
    print("  ", a, "<->", b)
