"""The layers of docs/architecture.md hold: no module imports from a layer above its own, the
siblings of one layer never import each other, and no import cycle runs through module-level
imports.

The layer table is read from docs/architecture.md (the rows of its "Layers" table), so the
page and the rule cannot drift apart. Every ``import`` in every module under src/openlfr is
checked, inside functions too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PAGE = REPO / "docs" / "architecture.md"

#: Upward imports that exist today, each with why and what would remove it. The list only
#: shrinks: a new entry needs the same justification in docs/architecture.md.
KNOWN_EXCEPTIONS = {
    # alerts.outbox_worker delivers the centre's outbox to the sinks: it reads the outbox
    # rows through governance and belongs to the fleet layer (fleet.runtime runs it). Moving
    # it to fleet/ removes these three.
    ("openlfr.alerts.outbox_worker", "openlfr.governance.outbox"),
    ("openlfr.alerts.outbox_worker", "openlfr.governance.crypto"),
    ("openlfr.alerts.outbox_worker", "openlfr.store.db"),
}


@dataclass(frozen=True)
class Layer:
    level: int
    name: str
    packages: tuple[str, ...]
    siblings: bool  # its packages never import each other


def read_layers() -> list[Layer]:
    """Rows ``| 3 | vision | `vision` | ... |`` of the page's layer table, bottom first;
    a name ending in "(siblings)" marks packages that never import each other."""
    layers = []
    for line in PAGE.read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|", line)
        if m:
            packages = tuple(re.findall(r"`([a-z_.]+)`", m.group(3)))
            layers.append(Layer(int(m.group(1)), m.group(2), packages,
                                "(siblings)" in m.group(2)))
    assert layers, f"no layer table found in {PAGE}"
    return sorted(layers, key=lambda x: x.level)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "openlfr").rglob("*.py"))}


def imports(name: str, path: Path, top_level_only: bool = False) -> set[str]:
    """The openlfr modules ``name`` imports (``from a import b`` counts as ``a.b`` when
    ``a.b`` is a module, else as ``a``); with ``top_level_only`` only those that run at
    import time (module body, not functions; ``if TYPE_CHECKING`` blocks left out)."""
    tree = ast.parse(path.read_text(), str(path))
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = _top_level(tree.body) if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m == "openlfr" or m.startswith("openlfr.")}


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" not in test:
                out += _top_level(node.body) + _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            out += _top_level(node.body) + _top_level(node.orelse) + _top_level(node.finalbody)
            for h in node.handlers:
                out += _top_level(h.body)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
    return out


def layer_of(module: str, layers: list[Layer]) -> tuple[Layer, str]:
    """The module's layer and the package it counts as: the longest name in the table that
    the module is, or is inside, decides (a package, or one module placed on its own)."""
    rel = module.removeprefix("openlfr").removeprefix(".") or "openlfr"
    best: tuple[Layer, str] | None = None
    for layer in layers:
        for pkg in layer.packages:
            if (rel == pkg or rel.startswith(pkg + ".")) and (
                    best is None or len(pkg) > len(best[1])):
                best = (layer, pkg)
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best


def test_every_module_has_a_layer() -> None:
    layers = read_layers()
    for name in modules():
        layer_of(name, layers)


def against_layers(name: str, targets: set[str], layers: list[Layer]) -> list[str]:
    """The imports of module ``name`` (``targets``) that go up a layer or to a sibling."""
    mine, my_pkg = layer_of(name, layers)
    wrong = []
    for target in sorted(targets):
        theirs, their_pkg = layer_of(target, layers)
        upward = theirs.level > mine.level
        sideways = theirs is mine and mine.siblings and their_pkg != my_pkg
        if (upward or sideways) and (name, target) not in KNOWN_EXCEPTIONS:
            wrong.append(f"{name} ({mine.level} {mine.name}) imports {target} "
                         f"({theirs.level} {theirs.name})")
    return wrong


def test_no_module_imports_from_a_layer_above_or_a_sibling() -> None:
    layers = read_layers()
    wrong = [w for name, path in modules().items()
             for w in against_layers(name, imports(name, path), layers)]
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("name", "target", "allowed"), [
    ("openlfr.pipeline.worker", "openlfr.vision.engine", True),       # down
    ("openlfr.vision.engine", "openlfr.pipeline.worker", False),      # up
    ("openlfr.pipeline.worker", "openlfr.governance.audit", False),   # sibling
    ("openlfr.governance.audit", "openlfr.pipeline.sources", False),  # sibling
    ("openlfr.fleet.camera", "openlfr.governance.deployments", True),
    ("openlfr.store.db", "openlfr.api.app", False),
    ("openlfr.cli.scan", "openlfr.fleet.camera", True),               # the cli is on top
    ("openlfr.fleet.camera", "openlfr.cli.options", False),
    ("openlfr.evaluation.tracking.run", "openlfr.pipeline.tracker", True),
    ("openlfr.evaluation.embedcache", "openlfr.pipeline.tracker", False),
])
def test_the_rule_tells_up_from_down(name: str, target: str, allowed: bool) -> None:
    assert (against_layers(name, {target}, read_layers()) == []) is allowed


def test_known_exceptions_still_exist() -> None:
    """An exception that was fixed leaves the list (so the list only shrinks)."""
    mods = modules()
    for name, target in KNOWN_EXCEPTIONS:
        assert name in mods and target in imports(name, mods[name]), (name, target)


def test_no_import_cycles_at_module_level() -> None:
    mods = modules()
    graph = {name: {t for t in imports(name, path, top_level_only=True) if t in mods}
             for name, path in mods.items()}
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles:\n" + "\n".join(" -> ".join(c)
                                                                  for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.remove(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize(("source", "expected"), [
    ("from openlfr.store import db\n", {"openlfr.store.db"}),
    ("from openlfr.errors import ConfigError\n", {"openlfr.errors"}),
    ("def f():\n    from openlfr.fleet import camera\n", {"openlfr.fleet.camera"}),
    ("from . import models\n", {"openlfr.store.models"}),
    ("from .db import session_scope\n", {"openlfr.store.db"}),
])
def test_imports_are_read_as_the_rule_needs(tmp_path: Path, source: str,
                                            expected: set[str]) -> None:
    path = tmp_path / "x.py"
    path.write_text(source)
    assert imports("openlfr.store.x", path) == expected


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
