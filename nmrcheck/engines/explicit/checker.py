"""The explicit checker: every property of a system decided on one exploration.

One breadth-first search (:func:`search.explore`) stores the states (one per orbit where
symmetry reduction is sound for every property, liveness included) and, when hangs or
liveness properties are to be decided, every edge. The safety properties are read off the
search, hangs (:mod:`.hangs`) and liveness (:mod:`.liveness`) off its edges. Each phase is
timed in the run control, which also stops any of them early.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable
from typing import Any

from nmrcheck import control
from nmrcheck.engines.common.results import (
    EXHAUSTIVE,
    HANG,
    HOLDS,
    PARTIAL,
    UNKNOWN,
    UNREACHABLE,
    VIOLATED,
    WITNESSED,
    CheckResult,
    PropertyResult,
)
from nmrcheck.engines.explicit import arrays, forks, liveness, probe
from nmrcheck.engines.explicit import hangs as hang_detection
from nmrcheck.engines.explicit.arrays import Edges, Graph
from nmrcheck.engines.explicit.search import (
    STOPPED_AT_VIOLATION,
    Exploration,
    Limits,
    explore,
    peak_memory_mb,
    safety_view,
)
from nmrcheck.engines.explicit.symmetry import Symmetry
from nmrcheck.engines.explicit.symmetry import analyse as analyse_symmetry
from nmrcheck.ir import INVARIANT, LIVENESS_KINDS, TransitionSystem
from nmrcheck.ir.trace import Trace

CONTINUE_HINT = "--continue decides every property"


def check(
    ts: TransitionSystem,
    limits: Limits | None = None,
    progress: Callable[[dict], None] | None = None,
    hangs: bool = True,
    symmetry: str = "off",
    explorer: Callable[..., Exploration] | None = None,
    stop_at_violation: bool = False,
    liveness_props: bool = True,
    cores: int = 0,
) -> tuple[CheckResult, Exploration]:
    """Decide every property of ``ts`` (and hang freedom) by exhaustive exploration.

    Parameters
    ----------
    ts : TransitionSystem
    limits : Limits, optional
    progress : callable, optional
        Called about once a second with the figures of the running phase.
    hangs : bool
        Decide ``no_hang`` (it needs the edges).
    symmetry : str
        ``auto`` reduces by the instances of replicated drivers where that is sound for
        every property (``stats["symmetry"]`` says what was done, or why not); ``off``.
    explorer : callable, optional
        Explores instead of :func:`search.explore` (same arguments).
    stop_at_violation : bool
        End the search at the first violated invariant (a shortest counterexample); the
        properties not decided by then are ``unknown``.
    liveness_props : bool
        Decide the liveness properties of ``ts`` (otherwise they are left out).
    cores : int
        1: one process; 0: a second process where the machine has a second core (large
        levels of the search are split, and on large graphs the pending step of liveness and
        hang detection run beside the components and the liveness check: :mod:`.forks`).
    """
    ctl = control.current()
    live = liveness.liveness_properties(ts) if liveness_props else []
    sym, sym_note = None, None
    found = None
    try:
        if symmetry == "auto":
            with ctl.timed("set-up"), ctl.abortable():
                sym, why = analyse_symmetry(ts if live else safety_view(ts))
            if sym is None and why != "no replicated driver":
                sym_note = {"used": False, "reason": why}
        if stop_at_violation and explorer is None and (limits is None or
                                                       limits.max_states is None):
            with ctl.timed("probe"), ctl.abortable():
                found = _probe(ts)
        if found is not None:
            with ctl.timed("search"):
                ex, shortest = _shortest(ts, found, sym, limits)
        else:
            with ctl.timed("search"):
                ex = (explorer or explore)(
                    ts, limits, keep_edges=hangs or bool(live), progress=progress,
                    symmetry=sym, stop_at_violation=stop_at_violation,
                    split=forks.usable(cores), beside=_atoms_beside(ts, live),
                )
            shortest = None
    except control.Stopped as stop:  # before the search had anything to show
        return _stopped(ts, stop, hangs, live), None  # type: ignore[return-value]
    stats: dict[str, Any] = {
        "states": len(ex.states),
        "transitions": ex.transitions,
        "depth": ex.max_depth,
        "seconds": round(ex.seconds, 3),
        "complete": ex.complete,
        "interrupted": ex.interrupted,
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    if ex.stopped_at >= 0:
        stats["stopped_at_violation"] = True
    if sym is not None:
        sym_note = {
            "used": True,
            "groups": {g.driver: len(g.instances) for g in sym.groups},
            "orbits": len(ex.states),
        }
    if sym_note is not None:
        stats["symmetry"] = sym_note
    results = _safety(ts, ex, shortest)
    if found is not None:
        stats["probe"] = {"steps": len(found.actions), "proved_shortest": shortest is None}
    results += _on_the_graph(ts, ex, hangs, live, forks.usable(cores))
    if live:
        stats["liveness"] = {"properties": len(live), "fairness_groups": len(ts.fairness),
                             "reduced": sym is not None}
    order = {p.name: k for k, p in enumerate(ts.properties)}
    results.sort(key=lambda r: order.get(r.property, len(order)))
    return CheckResult(results, "explicit", stats), ex


def _unknown(name: str, ex: Exploration, what: str = "") -> PropertyResult:
    """The answer for a property the search did not get to decide."""
    if ex.stopped_at >= 0:
        why = f"not checked: the search {STOPPED_AT_VIOLATION}"
    else:
        why = ex.stop_reason + what
    return PropertyResult(name, UNKNOWN, "explicit", PARTIAL, reason=why)


def _probe(ts: TransitionSystem) -> probe.Found | None:
    """A cheap depth-first search for a violated invariant, shortened (:mod:`.probe`)."""
    target = probe.prepare(ts)
    if not target.stop_mask:
        return None
    found = probe.probe(target.comp, target.initial, target.stop_mask)
    return probe.shorten(target.comp, target.initial, found) if found is not None else None


SHORTEST_SECONDS = 10.0  # at most this long to prove a probe's counterexample shortest


def _shortest(ts: TransitionSystem, found: probe.Found, sym: Symmetry | None,
              limits: Limits | None) -> tuple[Exploration, probe.Found | None]:
    """A breadth-first search that stops at the first violation and expands no state as
    deep as ``found`` is long: it meets a violation at that depth at the latest, and the one
    it meets is a shortest one (returned with None). It runs without generated code for a
    small search, then with it; when it outgrows 2**20 states or :data:`SHORTEST_SECONDS`,
    ``found`` stands, not proved shortest."""
    seconds = SHORTEST_SECONDS
    if limits is not None and limits.timeout is not None:
        seconds = min(seconds, limits.timeout)
    remaining = control.current().remaining()
    if remaining is not None:
        seconds = min(seconds, remaining)
    for generated, budget in ((False, 1 << 16), (True, 1 << 20)):
        ex = explore(ts, Limits(budget, seconds), keep_edges=False, symmetry=sym,
                     stop_at_violation=True, max_depth=len(found.actions),
                     generated=generated)
        if ex.stopped_at >= 0:
            return ex, None
        if not ex.stop_reason.startswith("state limit"):
            break
    ex.complete, ex.stop_reason, ex.stopped_at = False, STOPPED_AT_VIOLATION, 0
    return ex, found


def _safety(ts: TransitionSystem, ex: Exploration,
            unproved: probe.Found | None = None) -> list[PropertyResult]:
    """The safety properties' answers; ``unproved``: a violation found by the probe that the
    bounded search could not prove shortest (it stands for the properties it breaks)."""
    cover = EXHAUSTIVE if ex.complete else PARTIAL
    out = []
    for pi, p in enumerate(safety_view(ts).properties):
        j = ex.found.get(pi)
        if unproved is not None and unproved.broken >> pi & 1:
            trace = _trace_of(ex, unproved)
            r = PropertyResult(p.name, VIOLATED, "explicit", PARTIAL, trace=trace)
            r.stats["shortest"] = False
            out.append(r)
        elif j is not None:
            verdict = VIOLATED if p.kind == INVARIANT else WITNESSED
            out.append(PropertyResult(p.name, verdict, "explicit", cover, trace=ex.trace_to(j)))
        elif ex.complete:
            verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
            out.append(PropertyResult(p.name, verdict, "explicit", EXHAUSTIVE))
        else:
            out.append(_unknown(p.name, ex))
    return out


def _trace_of(ex: Exploration, found: probe.Found) -> Trace:
    unpack = ex.compiled.layout.unpack
    return Trace(tuple(unpack(x) for x in found.states), tuple(found.actions))


def _hang_result(ts: TransitionSystem, ex: Exploration, found: dict[int, int]) -> PropertyResult:
    if not found:
        return PropertyResult(HANG, HOLDS, "explicit", EXHAUSTIVE)
    first = min(found.values())
    stuck = sorted(k for k, j in found.items() if j == first)
    prefix = ex.trace_to(first)
    if ex.symmetry is not None:  # the threads of the representative, in the real run
        m = ex.symmetry.canon_map(ex.compiled.layout.pack(prefix.states[-1]))[1]
        perm = ex.symmetry.slot_perm(m)
        stuck = sorted(k for k in range(len(perm)) if perm[k] in stuck)
    r = PropertyResult(HANG, VIOLATED, "explicit", EXHAUSTIVE,
                       trace=_extend_to_dead_end(ex, first, prefix))
    r.stats["blocked_slots"] = stuck
    r.stats["blocked_from"] = len(prefix)
    return r


def _on_the_graph(ts: TransitionSystem, ex: Exploration, hangs: bool, live: list,
                  two: bool) -> list[PropertyResult]:
    """Hang freedom and the liveness properties, decided on the explored graph (its
    strongly connected components once for both); what a stop leaves undecided is
    unknown."""
    names = ([HANG] if hangs else []) + [p.name for p in live]
    if not names:
        return []
    if not ex.complete:
        return [_unknown(name, ex, " (it needs the whole graph)") for name in names]
    ctl = control.current()
    out: list[PropertyResult] = []
    beside = pend = None
    try:
        with ctl.abortable():
            big = two and len(ex.dst) >= BESIDE_FROM  # type: ignore[arg-type]
            if big and live:
                pend = _pending_beside(ts, ex, live)
            with ctl.timed("components"):
                g = Graph(ex.first, ex.dst, ex.act, ex.perm)  # type: ignore[arg-type]
            if big and hangs and live:
                beside = _hangs_beside(ex, len(ts.slots), g)
            elif hangs:
                with ctl.timed("hangs"):
                    out.append(_hang_result(ts, ex, hang_detection.find_hangs(
                        ex, len(ts.slots), g)))
            decided = []
            if live:
                with ctl.timed("liveness"):
                    given = None if pend is None else _pending_of(pend)
                    decided = liveness.decide(ts, ex, live, g, given)
            if beside is not None:
                with ctl.timed("hangs"):  # the wait for it, after liveness
                    out.append(_hang_result(ts, ex, marshal.loads(beside.result())))
            out += decided
    except control.Stopped as stop:
        done = {r.property for r in out}
        out += [PropertyResult(name, UNKNOWN, "explicit", PARTIAL, reason=stop.reason)
                for name in names if name not in done]
    finally:
        for child in (beside, pend):
            if child is not None:
                child.stop()
    return out


def _atoms_beside(ts: TransitionSystem, live: list) -> Callable | None:
    """The atoms of the liveness properties ``live`` at every state, for the twin of a split
    search to compute while it would wait (``explore``'s ``beside``)."""
    if not live:
        return None
    return lambda ex: liveness.AtomTable.of(ts, ex, live)


BESIDE_FROM = 1 << 18  # edges from which liveness's pending step and hangs run in a second process


def _hangs_beside(ex: Exploration, nslots: int, g: Graph) -> forks.Child:
    """Hang detection in a forked child, beside the liveness check of this process."""
    return forks.Child.start(
        lambda: marshal.dumps(hang_detection.find_hangs(ex, nslots, g)))


def _pending_beside(ts: TransitionSystem, ex: Exploration, live: list) -> forks.Child:
    """The pending liveness instances of every state (:func:`liveness.state_pending`: it
    needs the edges, not the components) in a forked child, beside the components of this
    process."""
    def work() -> bytes:
        edges = Edges(ex.first, ex.dst, ex.act, ex.perm)  # type: ignore[arg-type]
        return arrays.dump_masks(*liveness.state_pending(ts, ex, live, edges))

    return forks.Child.start(work)


def _pending_of(child: forks.Child) -> tuple[list[int], list[int]]:
    """What :func:`_pending_beside` computed."""
    pend, trig = arrays.load_masks(child.result())
    return list(pend), list(trig)


def _stopped(ts: TransitionSystem, stop: control.Stopped, hangs: bool,
             live: list) -> CheckResult:
    """Every property unknown: the run stopped before the search began."""
    names = [p.name for p in safety_view(ts).properties] + ([HANG] if hangs else [])
    names += [p.name for p in live]
    results = [PropertyResult(n, UNKNOWN, "explicit", PARTIAL, reason=stop.reason)
               for n in names]
    return CheckResult(results, "explicit", {"complete": False,
                                              "interrupted": stop.interrupted})


def _extend_to_dead_end(ex: Exploration, j: int, prefix: Trace) -> Trace:
    """``prefix`` continued by a shortest path from state ``j`` to a state with no successor.

    From ``j`` on the blocked routine can never move again; running on to where nothing at all
    can happen shows the reader why (for example the detach that returned STATUS_PENDING). When
    other threads keep running forever, the prefix is returned unchanged.
    """
    back: dict[int, tuple[int, int]] = {j: (-1, -1)}
    queue = [j]
    end = -1
    for node in queue:
        edges = ex.out(node)
        if not edges:
            end = node
            break
        for e in edges:
            t = ex.dst[e]  # type: ignore[index]
            if t not in back:
                back[t] = (node, ex.act[e])  # type: ignore[index]
                queue.append(t)
    if end < 0 or end == j:
        return prefix
    path: list[tuple[int, int]] = []
    node = end
    while node != j:
        prev, a = back[node]
        path.append((node, a))
        node = prev
    path.reverse()
    if ex.symmetry is not None:
        return ex.concrete(ex.path_to(j) + [n for n, _ in path])[0]
    unpack = ex.compiled.layout.unpack
    states = prefix.states + tuple(unpack(ex.states[n]) for n, _ in path)
    actions = prefix.actions + tuple(a for _, a in path)
    return Trace(states, actions)


__all__ = ["LIVENESS_KINDS", "check"]
