"""The layers of docs/architecture.md hold: no import loops between foxden's modules, and the
render node and the client never import a server-side package (the same analysis as
scripts/import_loops.py: every import, also inside functions, except under TYPE_CHECKING)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SERVER_SIDE = ("foxden.server", "foxden.farm", "foxden.db", "foxden.web", "foxden.store")
NOT_SERVER = ("foxden.worker", "foxden.jobtypes", "foxden.client")


def _analysis() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_loops", ROOT / "scripts/import_loops.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inside(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_no_import_loops() -> None:
    analysis = _analysis()
    graph = analysis.import_graph(ROOT / "src")
    assert "foxden.worker.lease" in graph  # the analysis sees the package
    assert analysis.cycles(graph) == []
    assert analysis.mutual_pairs(graph) == []


def test_the_render_node_and_the_client_import_nothing_of_the_server() -> None:
    graph = _analysis().import_graph(ROOT / "src")
    crossing = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _inside(module, NOT_SERVER)
        for target in targets
        if _inside(target, SERVER_SIDE)
    )
    assert crossing == []


def test_the_analysis_finds_a_loop_and_skips_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")
    (package / "b.py").write_text("from .a import f\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    (package / "d.py").write_text("import pkg.a\n")
    analysis = _analysis()
    graph = analysis.import_graph(tmp_path)
    assert analysis.cycles(graph) == [["pkg.a", "pkg.b"]]
    assert graph["pkg.c"] == set()
    assert graph["pkg.d"] == {"pkg.a"}
