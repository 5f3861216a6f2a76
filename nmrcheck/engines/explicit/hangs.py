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

from nmrcheck.engines.explicit.frames import Renaming
from nmrcheck.engines.explicit.scc import tarjan
from nmrcheck.engines.explicit.search import Exploration


def find_hangs(ex: Exploration, nslots: int) -> dict[int, int]:
    """Threads blocked forever: thread -> the first (shortest) state index where it is,
    the thread numbered as in that state (a representative, under symmetry).

    Parameters
    ----------
    ex : Exploration
        A complete exploration with its edges.
    nslots : int
        The number of threads.
    """
    waiting = ex.waiting.masks
    first, dst, perm = ex.first, ex.dst, ex.perm
    if first is None or dst is None or not any(waiting):
        return {}
    everyone = (1 << nslots) - 1
    slots = None
    if perm is not None and ex.symmetry is not None:
        slots = Renaming(ex.frames, ex.symmetry.slot_names, ex.symmetry.namer.rename)
    frames = ex.frames
    n = len(waiting)

    def moved(e: int) -> int:
        """The threads of an edge's source that can move in its target (in the source's
        numbering), as far as the target alone tells."""
        u = dst[e]
        r = everyone & ~waiting[u] if u < n else everyone
        if slots is not None and perm[e]:  # type: ignore[index]
            r = slots.mask(r, frames.inverse(perm[e]))  # type: ignore[index]
        return r

    # most blocked threads can move one step on (the OS calling Unload, a lock released):
    # only the states where some cannot are left for the fixed point
    blocked = [i for i in range(n) if waiting[i]]
    unresolved = bytearray(n)
    for s in blocked:
        w = waiting[s]
        for e in range(first[s], first[s + 1]):
            w &= ~moved(e)
            if not w:
                break
        unresolved[s] = w != 0
    stay = [s for s in blocked if unresolved[s]]
    _, comps = tarjan(n, first, dst, roots=stay, inside=unresolved.__getitem__)
    can: dict[int, int] = {}
    for members in comps:
        for s in members:
            can[s] = everyone & ~waiting[s]
        changed = True
        while changed:
            changed = False
            for s in members:
                acc = can[s]
                if acc == everyone:
                    continue
                for e in range(first[s], first[s + 1]):
                    u = dst[e]
                    r = can.get(u, everyone) if unresolved[u] else everyone
                    if slots is not None and perm[e]:  # type: ignore[index]
                        r = slots.mask(r, frames.inverse(perm[e]))  # type: ignore[index]
                    acc |= r
                    if acc == everyone:
                        break
                if acc != can[s]:
                    can[s] = acc
                    changed = True
    hangs: dict[int, int] = {}
    for s in stay:
        stuck = waiting[s] & ~can[s]
        k = 0
        while stuck >> k:
            if stuck >> k & 1 and k not in hangs:
                hangs[k] = s
            k += 1
    return hangs
