"""Bulk operations on the explored graph with numpy: the graph's arrays are read and written
as whole vectors, not edge by edge in Python.

The search appends each edge as one int (``codegen.EDGE_SHIFT``); :func:`split_edges` turns
them into the separate arrays the analyses index (``array.array``, cheap to read element by
element from Python). :func:`enabled_groups` gives each state the fairness groups of the
actions it enables.
"""

from __future__ import annotations

import marshal
from array import array
from collections.abc import Sequence

import numpy as np

from nmrcheck.engines.explicit.codegen import ACTION_SHIFT, EDGE_SHIFT

CHUNK = 1 << 22  # edges converted at a time (bounds the memory the conversion adds)


def split_edges(packed: array, actions: int,
                mapped: bool) -> tuple[array, array, array | None]:
    """``(dst, act, perm)`` of the edges ``packed`` (``perm`` None when not ``mapped``).

    The packed array is emptied from its end as it is converted, so the peak memory is
    about the larger of the two plus one chunk."""
    wide = actions >= 1 << 16
    chunks: list[tuple[bytes, bytes, bytes]] = []
    n = len(packed)
    for lo in reversed(range(0, n, CHUNK)):  # from the end, shrinking the packed array
        chunks.append(_split_chunk(packed, lo, min(CHUNK, n - lo), wide))
        del packed[lo:]
    dst, act = array("I"), array("I" if wide else "H")
    perm = array("H") if mapped else None
    for d, a, p in reversed(chunks):
        dst.frombytes(d)
        act.frombytes(a)
        if perm is not None:
            perm.frombytes(p)
    return dst, act, perm


def _split_chunk(packed: array, lo: int, count: int, wide: bool) -> tuple[bytes, bytes, bytes]:
    v = np.frombuffer(packed, dtype=np.uint64, count=count, offset=8 * lo)
    d = (v >> np.uint64(EDGE_SHIFT)).astype(np.uint32).tobytes()
    a = ((v >> np.uint64(ACTION_SHIFT)) & np.uint64(0xFFFF)).astype(
        np.uint32 if wide else np.uint16).tobytes()
    p = (v & np.uint64(0xFFFF)).astype(np.uint16).tobytes()
    return d, a, p


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
class Edges:
    """The complete explored graph's edges as numpy arrays (views of the exploration's own
    arrays, not copies): ``first`` (int64, n + 1), ``dst`` and ``src`` per edge, ``act``
    and ``perm`` (None without symmetry)."""

    def __init__(self, first: array, dst: array, act: array, perm: array | None) -> None:
        self.first = np.frombuffer(first, dtype=np.uint32).astype(np.int64)
        self.n = len(self.first) - 1
        self.dst = np.frombuffer(dst, dtype=np.uint32)
        self.act = np.frombuffer(act, dtype=np.uint16 if act.typecode == "H" else np.uint32)
        self.perm = None if perm is None else np.frombuffer(perm, dtype=np.uint16)
        counts = np.diff(self.first)
        self.src = np.repeat(np.arange(self.n, dtype=np.uint32), counts)

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

    def chunks(self, states: np.ndarray, limit: int = 1 << 20) -> list[np.ndarray]:
        """``states`` in consecutive parts of at most about ``limit`` edges each (so the
        temporary arrays of a bulk operation stay small)."""
        counts = self.first[states + 1] - self.first[states]
        ends = np.cumsum(counts)
        if not len(ends) or ends[-1] <= limit:
            return [states]
        cuts = np.searchsorted(ends, np.arange(limit, int(ends[-1]), limit), "right")
        return [part for part in np.split(states, distinct(cuts)) if len(part)]


class Graph(Edges):
    """The edges (:class:`Edges`) with the strongly connected components: ``label`` per
    state, ``size`` per component, ``inner`` per edge (both ends in one component)."""

    def __init__(self, first: array, dst: array, act: array, perm: array | None) -> None:
        super().__init__(first, dst, act, perm)
        self.ncomp, self.label = _strong_components(self.n, first, dst)
        self.size = np.bincount(self.label, minlength=self.ncomp)
        self.inner = np.empty(len(self.dst), dtype=bool)
        for lo in range(0, len(self.dst), CHUNK):  # in parts: two label arrays per edge
            hi = lo + CHUNK
            self.inner[lo:hi] = self.label[self.src[lo:hi]] == self.label[self.dst[lo:hi]]
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

    def sinks_first(self) -> list[np.ndarray]:
        """The components in levels: each level's components reach only components of the
        levels before it (the condensation's reverse topological order, by Kahn)."""
        outer = ~self.inner
        lu, lv = self.label[self.src[outer]], self.label[self.dst[outer]]
        starts, preds_of = _rows(lv, lu, self.ncomp)  # the components leading into each
        out_deg = np.bincount(preds_of, minlength=self.ncomp)
        mark = np.zeros(self.ncomp, dtype=bool)
        level = np.flatnonzero(out_deg == 0)
        levels = []
        while level.size:
            levels.append(level)
            lo, hi = starts[level], starts[level + 1]
            counts = hi - lo
            idx = np.repeat(lo, counts) + (np.arange(int(counts.sum()))
                                            - np.repeat(np.cumsum(counts) - counts, counts))
            preds = preds_of[idx]
            np.subtract.at(out_deg, preds, 1)
            mark[preds] = True
            cand = np.flatnonzero(mark)
            mark[cand] = False
            level = cand[out_deg[cand] == 0]
        return levels


def _rows(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` grouped by ``keys`` (0..n-1) as compressed rows: (starts, values); a
    (key, value) pair may be listed once or as often as it occurs."""
    if len(keys) >= SCIPY_FROM:  # a counting sort in C (duplicate pairs merged)
        from scipy.sparse import csr_matrix

        m = csr_matrix((np.ones(len(keys), dtype=np.int8), (keys, values)), shape=(n, n))
        return m.indptr.astype(np.int64), m.indices
    counts = np.bincount(keys, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)))
    return starts, values[np.argsort(keys, kind="stable")]


SCIPY_FROM = 1 << 20  # edges from which scipy's components pay for its import (0.3-0.4 s)


def prepare(edges: int) -> bool:
    """Import what the components of a graph of ``edges`` edges or more need (scipy, from
    :data:`SCIPY_FROM`): a search calls it while it would wait anyway; True once done."""
    if edges < SCIPY_FROM:
        return False
    import scipy.sparse.csgraph  # noqa: F401

    return True


def _strong_components(n: int, first: array, dst: array) -> tuple[int, np.ndarray]:
    """Component labels: Tarjan in Python for a small graph (on the exploration's own
    arrays, which Python indexes faster than numpy's), scipy's (in C) for a large one."""
    if len(dst) < SCIPY_FROM:
        from nmrcheck.engines.explicit.scc import tarjan

        comp, comps = tarjan(n, first, dst)
        return len(comps), np.frombuffer(comp, dtype=np.int32).copy()
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    starts = np.frombuffer(first, dtype=np.uint32).astype(np.int64)
    ends = np.frombuffer(dst, dtype=np.uint32)
    m = csr_matrix((np.ones(len(ends), dtype=np.int8), ends, starts), shape=(n, n))
    ncomp, label = connected_components(m, directed=True, connection="strong")
    return int(ncomp), label.astype(np.int32)


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-d array, sorted: ``np.unique`` without its check for masked
    arrays, which imports ``numpy.ma`` (about 20 ms a run)."""
    s = np.sort(values)
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def distinct_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for a 1-d array, without ``numpy.ma``."""
    order = np.argsort(values, kind="stable")
    s = values[order]
    keep = np.ones(len(s), dtype=bool)
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    inverse = np.empty(len(s), dtype=np.intp)
    inverse[order] = np.cumsum(keep) - 1
    return s[keep], inverse


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
    for p in distinct(pids).tolist():  # few mappings, few distinct masks under each
        rows = np.flatnonzero(pids == p)
        uniq, inv = distinct_inverse(values[rows])
        images = np.array([rename(v, p) for v in uniq.tolist()], dtype=np.uint64)
        out[rows] = images[inv.reshape(-1)]
    return out


def from_bytes(code: str, data: bytes) -> array:
    """An array of type ``code`` holding ``data`` (what another process sent of one)."""
    out = array(code)
    out.frombytes(data)
    return out


def dump_masks(*columns: array | np.ndarray | list[int]) -> bytes:
    """Columns of bit masks, one per state, as bytes for another process
    (:func:`load_masks`): ``uint64`` columns (``array('Q')`` or numpy) as their bytes,
    faster than lists; Python ints (past 64 bits: lists, or numpy ``object`` arrays) as
    lists."""
    def one(c: array | np.ndarray | list[int]) -> bytes | list[int]:
        if isinstance(c, array) or (isinstance(c, np.ndarray) and c.dtype != object):
            return c.tobytes()
        return c.tolist() if isinstance(c, np.ndarray) else list(c)

    return marshal.dumps(tuple(one(c) for c in columns))


def load_masks(data: bytes | memoryview) -> tuple[array | list[int], ...]:
    """The columns :func:`dump_masks` sent: ``array('Q')`` or lists of ints."""
    return tuple(from_bytes("Q", c) if isinstance(c, bytes) else c
                 for c in marshal.loads(data))


def shifted(offsets: bytes, shift: int) -> bytes:
    """Edge offsets (``uint32``, as ``Exploration.first`` holds them) moved by ``shift``."""
    if not shift:
        return bytes(offsets)
    v = np.frombuffer(offsets, dtype=np.uint32)
    return (v + np.uint32(shift) if shift > 0 else v - np.uint32(-shift)).tobytes()


def renumber_edges(packed: bytes, n0: int, index: Sequence[int], m0: int,
                   maps: Sequence[int]) -> bytes:
    """Edges packed as ints (``codegen.EDGE_SHIFT``) with targets ``n0 + k`` renamed to
    ``index[k]`` and instance mappings ``m0 + k`` to ``maps[k]``."""
    v = np.frombuffer(packed, dtype=np.uint64).copy()
    dst = v >> np.uint64(EDGE_SHIFT)
    sel = dst >= np.uint64(n0)
    if sel.any():
        to = np.asarray(index, dtype=np.uint64)[(dst[sel] - np.uint64(n0)).astype(np.int64)]
        v[sel] = (to << np.uint64(EDGE_SHIFT)) | (v[sel] & np.uint64(0xFFFF_FFFF))
    if maps:
        low = np.uint64(0xFFFF)
        pid = v & low
        sel = pid >= np.uint64(m0)
        if sel.any():
            to = np.asarray(maps, dtype=np.uint64)[(pid[sel] - np.uint64(m0)).astype(np.int64)]
            v[sel] = (v[sel] & ~low) | to
    return v.tobytes()
