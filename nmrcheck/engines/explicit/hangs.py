"""Hang detection: a thread that is running but can never take a step again.

A thread is *blocked* in a state when it is running (busy) and none of its actions is enabled
there. It is *blocked forever* when no state reachable from there lets it move. For each
blocked state ``s`` the set ``R(s)`` of threads that can move at ``s`` or in some state
reachable from it is a least fixed point over the graph:

    R(s) = (threads not blocked at s)  ∪  ⋃ over edges s -> u of  R(u)

and a thread blocked at ``s`` but not in ``R(s)`` hangs. Every thread can move at a state
where none is blocked, so only blocked states are computed: level by level of the strongly
connected components, sinks first (what a level reaches is settled before it), each level
iterated to its fixed point, as whole vectors. Under symmetry reduction an edge renumbers
the threads by its instance mapping.
"""

from __future__ import annotations

import numpy as np

from nmrcheck import control
from nmrcheck.engines.explicit.arrays import Graph, masks, renamed
from nmrcheck.engines.explicit.frames import Renaming
from nmrcheck.engines.explicit.search import Exploration


def find_hangs(ex: Exploration, nslots: int, g: Graph | None = None) -> dict[int, int]:
    """Threads blocked forever: thread -> the first (shortest) state index where it is,
    the thread numbered as in that state (a representative, under symmetry).

    Parameters
    ----------
    ex : Exploration
        A complete exploration with its edges.
    nslots : int
        The number of threads.
    g : Graph, optional
        ``ex`` as arrays with its components (made here when not given).
    """
    if ex.first is None or not any(ex.waiting.masks):
        return {}
    g = g or Graph(ex.first, ex.dst, ex.act, ex.perm)  # type: ignore[arg-type]
    waiting = masks(ex.waiting.masks, nslots)
    everyone = (1 << nslots) - 1
    full = np.array([everyone], dtype=waiting.dtype)[0] if waiting.dtype != object else everyone
    can = np.full(g.n, full, dtype=waiting.dtype)
    blocked = np.flatnonzero(waiting)
    can[blocked] = full & ~waiting[blocked]
    rename = None
    if g.perm is not None and ex.symmetry is not None:
        slots = Renaming(ex.frames, ex.symmetry.slot_names, ex.symmetry.namer.rename)
        inverse = ex.frames.inverse

        def rename(m: int, pid: int) -> int:
            return slots.mask(m, inverse(pid))

    by_comp = blocked[np.argsort(g.label[blocked], kind="stable")]
    comp_of = g.label[by_comp]
    ctl = control.current()
    for k, level in enumerate(g.sinks_first()):
        lo = np.searchsorted(comp_of, level, "left")
        hi = np.searchsorted(comp_of, level, "right")
        if not (hi > lo).any():
            continue
        states = np.concatenate([by_comp[a:b] for a, b in zip(lo.tolist(), hi.tolist())
                                 if b > a])
        _settle(g, can, states, bool(g.cyclic[level].any()), rename, full)
        if not k & 0xFF and ctl.tick(done=k, total=g.ncomp, unit="levels of components"):
            raise control.Stopped(ctl.reason, ctl.interrupted)
    stuck = waiting & ~can
    hangs: dict[int, int] = {}
    for s in np.flatnonzero(stuck).tolist():
        bits, k = int(stuck[s]), 0
        while bits >> k:
            if bits >> k & 1 and k not in hangs:
                hangs[k] = s
            k += 1
    return hangs


def _settle(g: Graph, can: np.ndarray, states: np.ndarray, cyclic: bool, rename,
            full: object) -> None:
    """Iterate ``can`` of ``states`` (one level) to its least fixed point (a state where
    every thread can move is settled already)."""
    while True:
        states = states[can[states] != full]
        changed = False
        for part in g.chunks(states):
            changed |= _widen(g, can, part, rename)
        if not (changed and cyclic):
            return


def _widen(g: Graph, can: np.ndarray, states: np.ndarray, rename) -> bool:
    """Add to ``can`` of ``states`` what their successors allow; whether any grew."""
    edges, owner = g.edges_of(states)
    targets = g.dst[edges]
    r = can[targets]
    if g.perm is not None and rename is not None:
        pids = g.perm[edges]
        moved = np.flatnonzero(pids)
        if moved.size:
            r[moved] = renamed(r[moved], pids[moved], rename)
    acc = can[states]
    before = acc.copy()
    np.bitwise_or.at(acc, owner, r)
    can[states] = acc
    return not np.array_equal(acc, before)
