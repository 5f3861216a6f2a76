"""Strongly connected components of a graph stored as arrays (compressed sparse rows).

The explored state graph has millions of edges; networkx would first copy it into dicts. These
functions read the arrays the search already has: the edges of node ``v`` are
``dst[first[v]:first[v + 1]]``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence


def tarjan(
    n: int,
    first: Sequence[int],
    dst: Sequence[int],
    roots: Iterable[int] | None = None,
    inside: Callable[[int], bool] | None = None,
    tick: Callable[..., object] | None = None,
) -> tuple[array, list[list[int]]]:
    """Strongly connected components, by Tarjan's algorithm without recursion.

    Parameters
    ----------
    n : int
        Number of nodes (``0 .. n-1``).
    first, dst : sequences of int
        The edges as compressed sparse rows.
    roots : iterable of int, optional
        Search only from these nodes (default: every node), so only the nodes reachable from
        them get a component.
    inside : callable, optional
        Keep only the nodes where it is true, and the edges between them.
    tick : callable, optional
        Called with ``done`` and ``total`` (nodes) every so often (progress and limits).

    Returns
    -------
    (array, list of lists)
        ``comp[v]``: the index of the component of ``v`` (-1 when not searched), and the
        components in the order Tarjan's algorithm completes them: a component comes before
        every component that reaches it (reverse topological order: sinks first).

    Notes
    -----
    Each node and each edge is looked at once: time O(n + edges), memory three integers
    per node.
    """
    index = array("i", [-1]) * n
    low = array("i", [0]) * n
    comp = array("i", [-1]) * n
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    next_tick = 1 << 16 if tick is not None else n + 1
    for root in range(n) if roots is None else roots:
        if index[root] >= 0 or (inside is not None and not inside(root)):
            continue

        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        work = [(root, first[root])]
        while work:
            v, e = work[-1]
            end = first[v + 1]
            descended = False
            while e < end:
                w = dst[e]
                e += 1
                iw = index[w]
                if iw < 0:
                    if inside is not None and not inside(w):
                        continue
                    work[-1] = (v, e)
                    index[w] = low[w] = counter
                    counter += 1
                    if counter >= next_tick:
                        next_tick += 1 << 16
                        tick(done=counter, total=n, unit="states in components")
                    stack.append(w)
                    work.append((w, first[w]))
                    descended = True
                    break
                if comp[w] < 0 and iw < low[v]:  # w is on the stack
                    low[v] = iw
            if descended:
                continue
            work.pop()
            if low[v] == index[v]:
                k = len(comps)
                members = []
                while True:
                    w = stack.pop()
                    comp[w] = k
                    members.append(w)
                    if w == v:
                        break
                comps.append(members)
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
    return comp, comps


def has_cycle(members: Sequence[int], first: Sequence[int], dst: Sequence[int]) -> bool:
    """Whether a component has a cycle: more than one node, or a self-loop."""
    if len(members) > 1:
        return True
    v = members[0]
    return any(dst[e] == v for e in range(first[v], first[v + 1]))
