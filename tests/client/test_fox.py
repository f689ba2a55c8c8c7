"""`Fox` is a pure adapter over `Client`: no HTTP of its own, no private imports (read from its AST).

Its behaviour is tested through the vendor's calls: test_fox_vendor.py (every call, in the
vendor's positional and keyword forms), test_seed.py, test_blender_farm.py, test_errors.py and
tests/security/test_trusted_accounts.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import foxden.client.fox as fox_module
from foxden.client.api import Client

HTTP_CALLS = frozenset({"request", "send", "stream"})
HTTP_MODULES = ("httpx", "urllib", "requests", "http")


def _imports(node: ast.Import | ast.ImportFrom) -> list[str]:
    """Modules of HTTP and names starting with `_` that an import statement brings in."""
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        names = [module] if module.split(".")[0] in HTTP_MODULES else []
        return names + [a.name for a in node.names if a.name.startswith("_")]
    return [
        a.name
        for a in node.names
        if a.name.split(".")[0] in HTTP_MODULES or any(p.startswith("_") for p in a.name.split("."))
    ]


def _problem(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [f"imports {name}" for name in _imports(node)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return [f"calls .{node.func.attr}()"] if node.func.attr in HTTP_CALLS else []
    if isinstance(node, ast.Attribute) and node.attr == "http":
        return ["reaches .http"]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "client"
        and (node.attr.startswith("_") or not hasattr(Client, node.attr))
    ):
        return [f"uses client.{node.attr}, not a public Client method"]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [f"names the route {node.value!r}"] if node.value.startswith("/api") else []
    return []


def violations(source: str) -> list[str]:
    """What in a module's source is more than calls of `Client`'s public methods."""
    return [
        f"line {getattr(node, 'lineno', '?')}: {problem}"
        for node in ast.walk(ast.parse(source))
        for problem in _problem(node)
    ]


def test_fox_calls_only_public_client_methods() -> None:
    source = Path(fox_module.__file__).read_text(encoding="utf-8")
    assert violations(source) == []
    assert "self.client.task_json_page(" in source  # the check reads the module it means


def test_the_check_finds_http_and_private_names() -> None:
    source = (
        "import httpx\n"
        "from foxden.client.api import Client, _seg\n"
        "def f(self):\n"
        '    self.client.request("GET", "/api/me")\n'
        '    self.client.http.get(f"/api/projects/{_seg(name)}")\n'
        "    self.client._cache\n"
        "    self.client.me()\n"
    )
    found = violations(source)
    assert [f for f in found if "imports" in f] == ["line 1: imports httpx", "line 2: imports _seg"]
    assert "line 4: calls .request()" in found
    assert "line 5: reaches .http" in found
    assert "line 6: uses client._cache, not a public Client method" in found
    assert sum("names the route" in f for f in found) == 2
    assert not any("line 7" in f for f in found)
