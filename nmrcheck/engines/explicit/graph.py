"""The reachable state graph as a networkx DiGraph, and algorithms over it."""

from __future__ import annotations

import networkx as nx

from nmrcheck.engines.explicit.search import Exploration
from nmrcheck.ir import TransitionSystem


def to_networkx(ts: TransitionSystem, ex: Exploration) -> nx.DiGraph:
    """The explored graph: node ``i`` is the i-th state in BFS order.

    Node attributes: ``state`` (the decoded tuple), ``depth``, ``initial``. Edge attributes:
    ``action`` (the action index) and ``label`` (its text). Parallel actions between the same two
    states keep the first label.
    """
    if ex.edges_src is None:
        raise ValueError("the exploration kept no edges")
    g = nx.DiGraph()
    unpack = ex.compiled.layout.unpack
    for i, s in enumerate(ex.states):
        g.add_node(i, state=unpack(s), initial=(i == 0))
    for a, b, act in zip(ex.edges_src, ex.edges_dst, ex.edges_act):
        if not g.has_edge(a, b):
            g.add_edge(a, b, action=act, label=ts.actions[act].label)
    return g


def path_edges(path: list[int]) -> set[tuple[int, int]]:
    """The edges along a node path."""
    return set(zip(path, path[1:]))
