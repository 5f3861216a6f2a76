"""Bulk operations on the explored graph with numpy: the graph's arrays are read and written
as whole vectors, not edge by edge in Python.

The search appends each edge as one int (``codegen.EDGE_SHIFT``); :func:`split_edges` turns
them into the separate arrays the analyses index (``array.array``, cheap to read element by
element from Python). :func:`enabled_groups` gives each state the fairness groups of the
actions it enables.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from nmrcheck.engines.explicit.codegen import ACTION_SHIFT, EDGE_SHIFT

CHUNK = 1 << 22  # edges converted at a time (bounds the memory the conversion adds)


def split_edges(packed: array, actions: int,
                mapped: bool) -> tuple[array, array, array | None]:
    """``(dst, act, perm)`` of the edges ``packed`` (``perm`` None when not ``mapped``).

    The packed array is emptied as it is converted, so the peak memory is the split arrays
    plus one chunk."""
    dst, act = array("I"), array("H" if actions < 1 << 16 else "I")
    perm = array("H") if mapped else None
    n = len(packed)
    for lo in range(0, n, CHUNK):
        _split_chunk(packed, lo, min(CHUNK, n - lo), dst, act, perm)
    del packed[:]
    return dst, act, perm


def _split_chunk(packed: array, lo: int, count: int, dst: array, act: array,
                 perm: array | None) -> None:
    v = np.frombuffer(packed, dtype=np.uint64, count=count, offset=8 * lo)
    dst.frombytes((v >> np.uint64(EDGE_SHIFT)).astype(np.uint32).tobytes())
    a = (v >> np.uint64(ACTION_SHIFT)) & np.uint64(0xFFFF)
    act.frombytes(a.astype(np.uint16 if act.typecode == "H" else np.uint32).tobytes())
    if perm is not None:
        perm.frombytes((v & np.uint64(0xFFFF)).astype(np.uint16).tobytes())


def enabled_groups(first: Sequence[int], act: array,
                   action_groups: Sequence[int]) -> array | list[int]:
    """Per state, the mask of the fairness groups of the actions its edges take."""
    n = len(first) - 1
    if max(action_groups, default=0) >> 64:  # more than 64 groups: in Python
        out = [0] * n
        for i in range(n):
            m = 0
            for e in range(first[i], first[i + 1]):
                m |= action_groups[act[e]]
            out[i] = m
        return out
    groups = np.array(action_groups, dtype=np.uint64)
    per_edge = groups[np.frombuffer(act, dtype=np.uint16 if act.typecode == "H" else np.uint32)]
    starts = np.frombuffer(first, dtype=np.uint32).astype(np.int64)
    out = np.zeros(n, dtype=np.uint64)
    nonempty = starts[1:] > starts[:-1]
    if len(per_edge):  # each nonempty row runs to the next nonempty row's start
        out[nonempty] = np.bitwise_or.reduceat(per_edge, starts[:-1][nonempty])
    result = array("Q")
    result.frombytes(out.tobytes())
    return result


# -- the graph as numpy arrays ------------------------------------------------------------------
class Graph:
    """The complete explored graph as numpy arrays (views of the exploration's own arrays,
    not copies): ``first`` (int64, n + 1), ``dst`` and ``src`` per edge, ``act``, ``perm``
    (None without symmetry), and the strongly connected components: ``label`` per state,
    ``size`` per component, ``inner`` per edge (both ends in one component)."""

    def __init__(self, first: array, dst: array, act: array, perm: array | None) -> None:
        self.first = np.frombuffer(first, dtype=np.uint32).astype(np.int64)
        self.n = len(self.first) - 1
        self.dst = np.frombuffer(dst, dtype=np.uint32)
        self.act = np.frombuffer(act, dtype=np.uint16 if act.typecode == "H" else np.uint32)
        self.perm = None if perm is None else np.frombuffer(perm, dtype=np.uint16)
        counts = np.diff(self.first)
        self.src = np.repeat(np.arange(self.n, dtype=np.uint32), counts)
        self.ncomp, self.label = _strong_components(self.n, self.first, self.dst)
        self.size = np.bincount(self.label, minlength=self.ncomp)
        self.inner = self.label[self.src] == self.label[self.dst]
        loops = np.zeros(self.ncomp, dtype=bool)
        loops[self.label[self.src[self.inner & (self.src == self.dst)]]] = True
        self.cyclic = (self.size > 1) | loops  # per component: it holds a cycle
        self._order: np.ndarray | None = None

    def members(self, comps: np.ndarray) -> list[list[int]]:
        """The states of each component of ``comps`` (ascending), as Python lists."""
        if self._order is None:
            self._order = np.argsort(self.label, kind="stable")
            self._starts = np.concatenate(([0], np.cumsum(self.size)))
        order, starts = self._order, self._starts
        return [order[starts[c]:starts[c + 1]].tolist() for c in comps.tolist()]

    def edges_of(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The edges leaving ``states``, grouped by state in its order: (edge numbers,
        the position in ``states`` of each one's source)."""
        starts = self.first[states]
        counts = self.first[states + 1] - starts
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(states)), counts)
        begin = np.cumsum(counts) - counts
        edges = np.repeat(starts, counts) + (np.arange(total) - np.repeat(begin, counts))
        return edges, owner

    def sinks_first(self) -> list[np.ndarray]:
        """The components in levels: each level's components reach only components of the
        levels before it (the condensation's reverse topological order, by Kahn)."""
        outer = ~self.inner
        lu, lv = self.label[self.src[outer]], self.label[self.dst[outer]]
        out_deg = np.bincount(lu, minlength=self.ncomp)
        by_target = np.argsort(lv, kind="stable")
        lv_sorted = lv[by_target]
        bounds = np.searchsorted(lv_sorted, np.arange(self.ncomp + 1))
        level = np.flatnonzero(out_deg == 0)
        levels = []
        while level.size:
            levels.append(level)
            lo, hi = bounds[level], bounds[level + 1]
            counts = hi - lo
            idx = np.repeat(lo, counts) + (np.arange(int(counts.sum()))
                                            - np.repeat(np.cumsum(counts) - counts, counts))
            preds = lu[by_target[idx]]
            np.subtract.at(out_deg, preds, 1)
            cand = np.unique(preds)
            level = cand[out_deg[cand] == 0]
        return levels


SCIPY_FROM = 1 << 20  # edges from which scipy's components pay for its import (0.3-0.4 s)


def _strong_components(n: int, first: np.ndarray, dst: np.ndarray) -> tuple[int, np.ndarray]:
    """Component labels: Tarjan in Python for a small graph, scipy's (in C) for a large
    one."""
    if len(dst) < SCIPY_FROM:
        from nmrcheck.engines.explicit.scc import tarjan

        comp, comps = tarjan(n, first.tolist(), dst)
        return len(comps), np.frombuffer(comp, dtype=np.int32).astype(np.int64)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    m = csr_matrix((np.ones(len(dst), dtype=np.int8), dst, first), shape=(n, n))
    ncomp, label = connected_components(m, directed=True, connection="strong")
    return int(ncomp), label.astype(np.int64)


def masks(values: Sequence[int] | array, width: int) -> np.ndarray:
    """Bit masks as a numpy array: uint64 when ``width`` bits fit, else Python ints."""
    if width <= 64:
        if isinstance(values, array) and values.typecode == "Q":
            return np.frombuffer(values, dtype=np.uint64).copy()
        return np.array(values, dtype=np.uint64)
    return np.array(list(values), dtype=object)


def renamed(values: np.ndarray, pids: np.ndarray, rename) -> np.ndarray:
    """``rename(mask, pid)`` of each pair, computed once per distinct pair."""
    if not len(values):
        return values
    if values.dtype == object:
        memo: dict[tuple[int, int], int] = {}
        out = np.empty(len(values), dtype=object)
        for k, (v, p) in enumerate(zip(values.tolist(), pids.tolist())):
            key = (v, p)
            got = memo.get(key)
            if got is None:
                got = memo[key] = rename(v, p)
            out[k] = got
        return out
    out = np.empty_like(values)
    for p in np.unique(pids).tolist():  # few mappings, few distinct masks under each
        rows = np.flatnonzero(pids == p)
        uniq, inv = np.unique(values[rows], return_inverse=True)
        images = np.array([rename(v, p) for v in uniq.tolist()], dtype=np.uint64)
        out[rows] = images[inv.reshape(-1)]
    return out
