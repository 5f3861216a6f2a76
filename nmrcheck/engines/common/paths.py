"""Breadth-first search for a shortest path: the one every engine and the replay use."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from nmrcheck.errors import NmrcheckError

N = TypeVar("N", bound=Hashable)  # a node
L = TypeVar("L")  # what labels an edge (an action, an edge index)

Path = list[tuple[N, "L | None"]]


class TooLarge(NmrcheckError):
    """The search met more nodes than its limit allows (caught by the caller; never shown)."""


def shortest_path(
    start: N,
    edges: Callable[[N], Iterable[tuple[N, L]]],
    goal: Callable[[N], bool],
    limit: int | None = None,
) -> list[tuple[N, L | None]] | None:
    """A shortest path from ``start`` to a node where ``goal`` holds, as ``[(node, label of
    the edge into it)]`` (the start's label is ``None``), or ``None`` when no such node is
    reachable. ``edges(n)`` gives the ``(successor, label)`` pairs of ``n``; the first found
    is kept, so the answer is deterministic when ``edges`` is. Raises :class:`TooLarge` when
    more than ``limit`` nodes are met."""
    back: dict[N, tuple[N | None, L | None]] = {start: (None, None)}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        if goal(u):
            return _walk_back(back, u)
        for v, label in edges(u):
            if v not in back:
                if limit is not None and len(back) >= limit:
                    raise TooLarge
                back[v] = (u, label)
                queue.append(v)
    return None


def _walk_back(back: dict, end: N) -> list:
    path = []
    cur = end
    while cur is not None:
        prev, label = back[cur]
        path.append((cur, label))
        cur = prev
    return path[::-1]
