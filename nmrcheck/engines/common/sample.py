"""Reachable states of a system, sampled breadth first: what proof engines read candidate
facts and shallow refutations off. The explicit engine provides a fast sampler
(``engines.explicit.sample``); :func:`bfs_sample` is the reference one."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from nmrcheck.control import current
from nmrcheck.ir import expr as E
from nmrcheck.ir.system import INVARIANT, REACHABLE, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate


@dataclass
class Sample:
    """Reachable states of a system, breadth first (so shallower states come first), and
    whether they are all of them; ``path(j)`` is a shortest run to ``states[j]``; ``found``
    maps the index of a property of the system to the first state where its goal holds."""

    ts: TransitionSystem
    count: int
    complete: bool
    path: Callable[[int], Trace]
    found: dict[int, int]
    unpack: Callable[[], list[tuple[int, ...]]]

    @property
    def states(self) -> list[tuple[int, ...]]:
        """The sampled states (decoded on first use)."""
        cached = self.__dict__.get("_states")
        if cached is None:
            cached = self.unpack()
            self.__dict__["_states"] = cached
        return cached

    def first(self, prop: Property) -> int | None:
        """The index of the first (a shallowest) sampled state reaching ``prop``'s goal."""
        for pi, q in enumerate(self.ts.properties):
            if q is prop:
                return self.found.get(pi)
        g = prop.expr if prop.kind == REACHABLE else E.not_(prop.expr)
        return next((j for j, s in enumerate(self.states) if evaluate(g, s)), None)


Sampler = Callable[[TransitionSystem, int, "float | None"], Sample]


def bfs_sample(ts: TransitionSystem, max_states: int, seconds: float | None) -> Sample:
    """The reachable states of ``ts``, at most ``max_states`` of them and within ``seconds``,
    breadth first by the reference interpreter (slow; the explicit engine offers a fast
    sampler with the same answers)."""
    end = None if seconds is None else time.monotonic() + seconds
    init = ts.initial_state()
    index = {init: 0}
    order = [init]
    parent: list[tuple[int, int]] = [(-1, -1)]
    queue = deque([0])
    complete = True
    control = current()
    while queue:
        if len(order) >= max_states or (end is not None and time.monotonic() > end):
            complete = False
            break
        j = queue.popleft()
        if not j & 255 and control.poll():
            complete = False
            break
        s = order[j]
        for a in ts.enabled(s):
            t = ts.fire(a, s)
            if t not in index:
                index[t] = len(order)
                order.append(t)
                parent.append((j, a))
                queue.append(index[t])

    def path(j: int) -> Trace:
        states, actions = [order[j]], []
        while parent[j][0] >= 0:
            j, a = parent[j]
            states.append(order[j])
            actions.append(a)
        return Trace(tuple(reversed(states)), tuple(reversed(actions)))

    found = {}
    for pi, prop in enumerate(ts.properties):
        if prop.kind in (INVARIANT, REACHABLE):
            g = prop.expr if prop.kind == REACHABLE else E.not_(prop.expr)
            j = next((j for j, s in enumerate(order) if evaluate(g, s)), None)
            if j is not None:
                found[pi] = j
    return Sample(ts, len(order), complete, path, found, lambda: order)
