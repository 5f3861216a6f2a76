"""Render a state graph as Graphviz DOT, with an optional highlighted path."""

from __future__ import annotations

import networkx as nx

from nmrcheck.ir import TransitionSystem
from nmrcheck.traces.steps import is_internal


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def state_label(ts: TransitionSystem, state: tuple[int, ...], index: int) -> str:
    parts = [f"#{index}"]
    for v, x in zip(ts.vars, state):
        if not is_internal(v.name) and x != v.init:
            parts.append(f"{v.name}={v.show(x)}")
    return "\n".join(parts)


def render(ts: TransitionSystem, g: nx.DiGraph, highlight: list[int] | None = None) -> str:
    """DOT text for ``g`` (from engines.explicit.graph.to_networkx)."""
    hl_nodes = set(highlight or [])
    hl_edges = set(zip(highlight or [], (highlight or [])[1:]))
    out = [
        "digraph nmrcheck {",
        "  node [shape=box, fontname=monospace, fontsize=9];",
        "  edge [fontname=monospace, fontsize=8];",
    ]
    for n in sorted(g.nodes):
        attrs = [f"label={_q(state_label(ts, g.nodes[n]['state'], n))}"]
        if g.nodes[n].get("initial"):
            attrs.append("peripheries=2")
        if n in hl_nodes:
            attrs.append("color=red, penwidth=2")
        out.append(f"  s{n} [{', '.join(attrs)}];")
    for a, b in sorted(g.edges):
        attrs = [f"label={_q(g.edges[a, b]['label'])}"]
        if (a, b) in hl_edges:
            attrs.append("color=red, penwidth=2")
        out.append(f"  s{a} -> s{b} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"
