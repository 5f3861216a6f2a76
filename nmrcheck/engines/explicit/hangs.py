"""Hang detection: a thread that is running but can never take a step again.

A thread is *blocked* in a state when it is running (busy) and none of its actions is enabled
there. It is *blocked forever* when no state reachable from there lets it move. For each
blocked state ``s`` the set ``R(s)`` of threads that can move at ``s`` or in some state
reachable from it is a least fixed point over the graph:

    R(s) = (threads not blocked at s)  ∪  ⋃ over edges s -> u of  R(u)

and a thread blocked at ``s`` but not in ``R(s)`` hangs. Every thread can move at a state
where none is blocked, so only the subgraph of blocked states needs computing: its strongly
connected components, sinks first, each iterated to its fixed point. Under symmetry
reduction an edge renumbers the threads by its instance mapping.
"""

from __future__ import annotations

from nmrcheck import control
from nmrcheck.engines.explicit.frames import Renaming
from nmrcheck.engines.explicit.scc import tarjan
from nmrcheck.engines.explicit.search import Exploration


def find_hangs(ex: Exploration, nslots: int,
               comps: list[list[int]] | None = None) -> dict[int, int]:
    """Threads blocked forever: thread -> the first (shortest) state index where it is,
    the thread numbered as in that state (a representative, under symmetry).

    Parameters
    ----------
    ex : Exploration
        A complete exploration with its edges.
    nslots : int
        The number of threads.
    comps : list of lists of int, optional
        The strongly connected components of the explored graph, sinks first
        (:func:`scc.tarjan`); computed here when not given.
    """
    waiting = ex.waiting.masks
    first, dst, perm = ex.first, ex.dst, ex.perm
    if first is None or dst is None or not any(waiting):
        return {}
    if comps is None:
        comps = tarjan(len(waiting), first, dst)[1]
    everyone = (1 << nslots) - 1
    slots = None
    if perm is not None and ex.symmetry is not None:
        slots = Renaming(ex.frames, ex.symmetry.slot_names, ex.symmetry.namer.rename)
    inverse = ex.frames.inverse
    can: dict[int, int] = {}  # blocked state -> the threads that can move there or later

    def settle(s: int) -> bool:
        """Add to ``can[s]`` what its successors allow; whether it grew."""
        acc = old = can[s]
        for e in range(first[s], first[s + 1]):
            r = can.get(dst[e], everyone)
            if r == everyone:
                acc = everyone
                break
            if slots is not None and perm[e]:  # type: ignore[index]
                r = slots.mask(r, inverse(perm[e]))  # type: ignore[index]
            acc |= r
            if acc == everyone:
                break
        can[s] = acc
        return acc != old

    ctl = control.current()
    for done, members in enumerate(comps):  # sinks first: what it reaches is settled
        if not done & 0xFFFF and ctl.tick(done=done, total=len(comps), unit="components"):
            raise control.Stopped(ctl.reason, ctl.interrupted)
        blocked = [s for s in members if waiting[s]]
        if not blocked:
            continue
        for s in blocked:
            can[s] = everyone & ~waiting[s]
        if len(members) == 1 and members[0] not in dst[first[members[0]]:first[members[0] + 1]]:
            settle(blocked[0])  # no cycle: once is enough
            continue
        while any([settle(s) for s in blocked if can[s] != everyone]):
            pass
    hangs: dict[int, int] = {}
    for s in sorted(can):
        stuck = waiting[s] & ~can[s]
        k = 0
        while stuck >> k:
            if stuck >> k & 1 and k not in hangs:
                hangs[k] = s
            k += 1
    return hangs
