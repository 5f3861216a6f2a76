"""The import rules of the architecture (docs/architecture.md, docs/api.md), read from
the syntax tree of every module, so that the plan and the code cannot drift apart.

Each layer imports only what its row allows (``nmrcheck.errors`` and ``nmrcheck.control`` are
shared by all), wherever in a module the import is; no package has a cycle of module-level
imports between its own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "nmrcheck"
SHARED = ("nmrcheck.errors", "nmrcheck.control")

# layer -> the layers its modules may import (besides SHARED and itself)
RULES: dict[str, tuple[str, ...]] = {
    "nmrcheck.ir": (),
    "nmrcheck.lang": (),
    "nmrcheck.nmr": ("nmrcheck.ir", "nmrcheck.lang"),
    "nmrcheck.engines.common": ("nmrcheck.ir",),
    "nmrcheck.engines.explicit": ("nmrcheck.ir", "nmrcheck.engines.common"),
    "nmrcheck.engines.symbolic": ("nmrcheck.ir", "nmrcheck.engines.common"),
    "nmrcheck.engines.run": ("nmrcheck.ir", "nmrcheck.engines"),
    "nmrcheck.traces": ("nmrcheck.ir", "nmrcheck.lang", "nmrcheck.nmr",
                        "nmrcheck.engines.common"),
    "nmrcheck.report": ("nmrcheck.ir", "nmrcheck.engines.common", "nmrcheck.traces"),
    "nmrcheck.api": ("nmrcheck.ir", "nmrcheck.lang", "nmrcheck.nmr", "nmrcheck.engines",
                     "nmrcheck.traces", "nmrcheck.report"),
}
FRONT_ENDS = ("nmrcheck.cli", "nmrcheck.commands", "nmrcheck.simulate", "nmrcheck.inputs",
              "nmrcheck.lsp", "nmrcheck.patterns", "nmrcheck.__main__", "nmrcheck.distributed",
              "nmrcheck")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, top_only: bool = False) -> set[str]:
    """The nmrcheck modules ``path`` imports (relative imports resolved); ``top_only``: only
    the imports of the module's own body, not those inside functions."""
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = _top_level(tree) if top_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("nmrcheck")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("nmrcheck"):
                out.add(name)
                out |= {f"{name}.{a.name}" for a in node.names
                        if (PKG.parent / Path(*f"{name}.{a.name}".split("."))).is_dir()
                        or (PKG.parent / Path(*f"{name}.{a.name}".split("."))).with_suffix(
                            ".py").exists()}
    return out


def _top_level(tree: ast.Module):
    """The statements of a module's body, into ifs and trys but not into functions."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [h for h in getattr(node, "handlers", [])]
        elif isinstance(node, ast.ExceptHandler):
            todo += node.body


def layer_of(module: str) -> str | None:
    best = None
    for layer in [*RULES, *FRONT_ENDS]:
        if (module == layer or module.startswith(layer + ".")) and (
                best is None or len(layer) > len(best)):
            best = layer
    return best


MODULES = sorted(PKG.rglob("*.py"))


def within(name: str, layers: tuple[str, ...]) -> bool:
    return any(name == x or name.startswith(x + ".") for x in layers)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG.parent)))
def test_each_module_imports_only_what_its_layer_may(path):
    me = module_name(path)
    layer = layer_of(me)
    assert layer is not None, f"{me} belongs to no layer: add it to tests/test_layers.py"
    if layer in FRONT_ENDS:
        return
    allowed = (layer, *SHARED, *RULES[layer])
    bad = sorted(name for name in imports(path) if name != "nmrcheck"
                 and not within(name, allowed))
    assert not bad, f"{me} ({layer}) imports {bad}"


# packages whose import cycle is known and being taken apart (a ratchet: the test fails
# when one of them no longer has a cycle, so that it leaves this list)
KNOWN_CYCLES: set[str] = set()


def cycles() -> dict[str, list[str]]:
    """Package -> one cycle of module-level imports among its modules."""
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        me = module_name(path)
        pkg = me.rsplit(".", 1)[0] if path.name != "__init__.py" else me
        graph[me] = {m for m in imports(path, top_only=True)
                     if m.rsplit(".", 1)[0] == pkg and m != me and m != pkg}
    state: dict[str, int] = {}
    found: dict[str, list[str]] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                found.setdefault(n.rsplit(".", 1)[0], stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_no_package_has_an_import_cycle():
    found = cycles()
    new = {p: c for p, c in found.items() if p not in KNOWN_CYCLES}
    assert not new, "import cycles: " + "; ".join(" -> ".join(c) for c in new.values())
    assert KNOWN_CYCLES <= set(found), f"no cycle left in {KNOWN_CYCLES - set(found)}: " \
        "take it off KNOWN_CYCLES"
