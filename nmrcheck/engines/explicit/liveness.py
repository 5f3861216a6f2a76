"""Liveness under fairness on the explored graph: fair cycles and lasso counterexamples.

A liveness property speaks about the *fair* runs of a system (``ts.fairness``; the NMR layer
says which groups of actions are weakly or strongly fair):

* ``eventually E``: every fair run reaches a state where ``E`` holds;
* ``leads_to P ~> Q``: on every fair run, every state where ``P`` holds is followed (or
  accompanied) by a state where ``Q`` holds.

A run may **stutter forever** in a state where no fairness group is enabled: every thread is
idle or blocked and NMR has nothing to do, so only the environment could act (the OS calling
``Unload``, a task starting), and it need not. A deadlock (no successor at all, not a crash)
is the extreme case. Such a run is infinite and fair, so a stutter where ``Q`` is false is a
counterexample. A run that ends in a crash (a halted state) is not: the crash is reported by
its own property.

The search (:func:`find_lasso`) restricts the graph to the non-halted states where ``Q`` is
false, computes its strongly connected components with networkx, and keeps those that
contain a fair cycle: for every weak group, the group is disabled in some state of the
component or taken by an edge inside it; for every strong group, it is taken inside it or,
when it is not, the states where it is enabled are removed and the rest is searched again
(the Emerson-Lei refinement). The counterexample is a *lasso*: a shortest path to a trigger
state (``P`` and not ``Q``; for ``eventually``, the initial state), a path that stays where
``Q`` is false to the fair component (or to a quiet state), and a cycle in it that passes a
witness of every fairness group.
It is a :class:`~nmrcheck.ir.trace.Trace` whose last state equals ``states[loop_start - 1]``,
so that, as the trace format says, the run goes on from the last state to
``states[loop_start]`` and repeats steps ``loop_start .. n`` forever. A stutter has
``loop_start == n`` (the last index): the run stays in its last state.

Reductions that are unsound for liveness (symmetry, partial order) must not touch the graph
searched here: :func:`check_liveness` asks for a plain, full exploration with every edge.
"""

from __future__ import annotations

import functools
import inspect
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from nmrcheck.engines.explicit.search import Exploration, Limits, csr_offsets, explore
from nmrcheck.engines.result import (
    EXHAUSTIVE,
    HOLDS,
    PARTIAL,
    UNKNOWN,
    VIOLATED,
    CheckResult,
    PropertyResult,
)
from nmrcheck.errors import InternalError
from nmrcheck.ir import EVENTUALLY, LIVENESS_KINDS, STRONG, WEAK, Property, TransitionSystem
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate, to_python

ENGINE = "explicit"
REDUCTIONS_NOTE = "off for liveness"
AUTO_STATE_BUDGET = 300_000  # the `auto` engine's budget for the liveness exploration


# -- the graph ---------------------------------------------------------------------------------
@dataclass
class LiveGraph:
    """The explored graph prepared for liveness: out-edges by state (CSR: the edges of state
    ``i`` are ``dst[k], act[k]`` for ``k`` in ``out(i)``), predecessors, halted and quiet
    states, and the fairness groups enabled in each state as bit masks (bit ``g`` stands for
    ``ts.fairness[g]``)."""

    ex: Exploration
    first: array
    dst: array
    act: array
    preds: list[list[int]]
    halted: set[int]
    quiet: set[int]  # not halted, no fairness group enabled: a run may stay there forever
    action_groups: list[int]  # action -> mask of the groups it belongs to
    enabled: list[int]  # state -> mask of the groups enabled there
    weak: int
    strong: int
    unpack: Callable[[int], tuple[int, ...]]

    @property
    def n(self) -> int:
        return len(self.ex.states)

    def out(self, i: int) -> range:
        return range(self.first[i], self.first[i + 1])

    def succ(self, i: int) -> set[int]:
        """The distinct successors of state ``i``."""
        return set(self.dst[self.first[i] : self.first[i + 1]])

    @functools.cached_property
    def cyclic(self) -> set[int]:
        """The states on some cycle of the whole graph: every cycle of a subgraph lies in a
        strongly connected component of the whole graph, so only these need searching."""
        import networkx as nx  # here: a safety check does not pay for importing it

        h = nx.DiGraph()
        h.add_nodes_from(range(self.n))
        h.add_edges_from((u, v) for u in range(self.n) for v in self.succ(u))
        out: set[int] = set()
        for comp in nx.strongly_connected_components(h):
            if len(comp) > 1:
                out |= comp
            else:
                (u,) = comp
                if h.has_edge(u, u):
                    out.add(u)
        return out


def prepare(ts: TransitionSystem, ex: Exploration) -> LiveGraph:
    """Index the explored graph ``ex`` of ``ts`` for :func:`find_lasso` (it must have kept
    its edges)."""
    if ex.edges_src is None:
        raise ValueError("liveness needs the exploration's edges (keep_edges=True)")
    n = len(ex.states)
    src, dst0, act0 = ex.edges_src, ex.edges_dst, ex.edges_act
    first = csr_offsets(src, n)
    pos = array("I", first)
    dst = array("I", bytes(4 * len(src)))
    act = array("I", bytes(4 * len(src)))
    preds: list[list[int]] = [[] for _ in range(n)]
    for s, d, a in zip(src, dst0, act0):
        k = pos[s]
        dst[k], act[k] = d, a
        pos[s] = k + 1
        if s != d:
            preds[d].append(s)
    groups = [0] * len(ts.actions)
    weak = strong = 0
    for g, f in enumerate(ts.fairness):
        bit = 1 << g
        if f.kind == STRONG:
            strong |= bit
        else:
            weak |= bit
        for a in f.actions:
            groups[a] |= bit
    enabled = [0] * n
    for s, a in zip(src, act0):
        enabled[s] |= groups[a]
    unpack = ex.compiled.layout.unpack
    halted = {
        i
        for i in range(n)
        if first[i] == first[i + 1] and evaluate(ts.halted, unpack(ex.states[i]))
    }
    quiet = {i for i in range(n) if not enabled[i] and i not in halted}
    return LiveGraph(
        ex, first, dst, act, preds, halted, quiet, groups, enabled, weak, strong, unpack
    )


def _predicate(ts: TransitionSystem, ex: Exploration, e: Expr) -> Callable[[int], bool]:
    """``e`` as a function of a packed state (generated like the search's own checks)."""
    lay = ex.compiled.layout
    src = f"def f(s):\n    return {to_python(e, lay.read_src)}\n"
    ns: dict[str, object] = {}
    exec(compile(src, "<nmrcheck-liveness>", "exec"), {"__builtins__": {}}, ns)
    return ns["f"]  # type: ignore[return-value]


# -- fair components ---------------------------------------------------------------------------
def fair_components(g: LiveGraph, inside: set[int]) -> list[set[int]]:
    """The strongly connected components of the subgraph on ``inside`` that contain a fair
    cycle (refined for strong groups), in a deterministic order.

    Parameters
    ----------
    g : LiveGraph
    inside : set of int
        The states the cycle must stay in.

    Returns
    -------
    list of set
        Each set is strongly connected within ``inside``, has a cycle, and every fairness
        group is satisfiable on a cycle through all of it.
    """
    dst, act = g.dst, g.act
    out: list[set[int]] = []
    work = [inside]
    import networkx as nx

    while work:
        nodes = work.pop()
        h = nx.DiGraph()
        h.add_nodes_from(nodes)
        h.add_edges_from((u, v) for u in nodes for v in g.succ(u) if v in nodes)
        comps = sorted(nx.strongly_connected_components(h), key=min)
        for comp in comps:
            if len(comp) == 1:
                (u,) = comp
                if not h.has_edge(u, u):
                    continue
            en_all, en_any, taken = -1, 0, 0
            for u in comp:
                en_all &= g.enabled[u]
                en_any |= g.enabled[u]
                for e in g.out(u):
                    if dst[e] in comp:
                        taken |= g.action_groups[act[e]]
            if g.weak & en_all & ~taken:
                continue  # a weak group enabled everywhere here and never taken
            bad = g.strong & en_any & ~taken
            if bad:
                rest = {u for u in comp if not g.enabled[u] & bad}
                if rest:
                    work.append(rest)
                continue
            out.append(comp)
    return sorted(out, key=min)


def _reach_forward(g: LiveGraph, starts: Iterable[int], inside: set[int]) -> set[int]:
    """The states of ``inside`` reachable from ``starts`` by paths inside ``inside``."""
    seen = set(starts)
    queue = list(seen)
    while queue:
        u = queue.pop()
        for v in g.succ(u):
            if v in inside and v not in seen:
                seen.add(v)
                queue.append(v)
    return seen


def _reach_back(g: LiveGraph, targets: Iterable[int], inside: set[int]) -> set[int]:
    """The states of ``inside`` from which a path inside ``inside`` reaches ``targets``."""
    seen = set(targets)
    queue = list(seen)
    while queue:
        v = queue.pop()
        for u in g.preds[v]:
            if u in inside and u not in seen:
                seen.add(u)
                queue.append(u)
    return seen


def _path(
    g: LiveGraph, start: int, inside: set[int], goal: Callable[[int], bool]
) -> list[tuple[int, int]]:
    """A shortest path inside ``inside`` from ``start`` to a state where ``goal`` holds, as
    ``[(state, action into it)]`` (the start has action -1)."""
    dst, act = g.dst, g.act
    back: dict[int, tuple[int, int]] = {start: (-1, -1)}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        if goal(u):
            path = []
            while u != -1:
                prev, a = back[u]
                path.append((u, a))
                u = prev
            return path[::-1]
        for e in g.out(u):
            v = dst[e]
            if v in inside and v not in back:
                back[v] = (u, act[e])
                queue.append(v)
    raise InternalError("no path to a state the liveness search found reachable")


def _cycle(g: LiveGraph, entry: int, comp: set[int]) -> list[tuple[int, int]]:
    """A cycle from ``entry`` back to ``entry`` inside ``comp`` that passes a witness of
    every fairness group: ``[(state, action into it)]`` without the starting state."""
    dst, act = g.dst, g.act
    en_any = 0
    for u in comp:
        en_any |= g.enabled[u]
    need_weak = g.weak  # satisfied by a state where the group is disabled, or by taking it
    need_strong = g.strong & en_any  # satisfied by taking it
    cur = entry
    steps: list[tuple[int, int]] = []
    need_weak &= g.enabled[cur]
    while need_weak or need_strong:
        # breadth first to the nearest witness: an edge of a needed group, or a state where
        # a needed weak group is disabled
        back: dict[int, tuple[int, int]] = {cur: (-1, -1)}
        queue = deque([cur])
        found: tuple[int, int, int] | None = None  # (from, action, to)
        while queue and found is None:
            u = queue.popleft()
            for e in g.out(u):
                v, a = dst[e], act[e]
                if v not in comp:
                    continue
                if g.action_groups[a] & (need_weak | need_strong):
                    found = (u, a, v)
                    break
                if v not in back:
                    back[v] = (u, a)
                    if need_weak & ~g.enabled[v]:
                        found = (back[v][0], a, v)
                        break
                    queue.append(v)
        if found is None:
            raise InternalError("a fair component without a witness of its fairness")
        u, a, v = found
        leg: list[tuple[int, int]] = [(v, a)]
        while u != cur:
            prev, a2 = back[u]
            leg.append((u, a2))
            u = prev
        leg.reverse()
        for state, action in leg:
            need_weak &= g.enabled[state] & ~g.action_groups[action]
            need_strong &= ~g.action_groups[action]
        steps += leg
        cur = leg[-1][0]
    if not steps or cur != entry:
        if not steps:  # no witness needed: any step inside, then back
            e = next(e for e in g.out(entry) if dst[e] in comp)
            steps.append((dst[e], act[e]))
            cur = dst[e]
        if cur != entry:
            steps += _path(g, cur, comp, lambda s: s == entry)[1:]
    return steps


# -- one property ------------------------------------------------------------------------------
@dataclass
class Lasso:
    """A counterexample: ``trace`` (a lasso or a stutter) and where the trigger is."""

    trace: Trace
    trigger: int  # index in the trace of the state where P (eventually: the initial state)
    stutter: bool


def find_lasso(ts: TransitionSystem, g: LiveGraph, prop: Property) -> Lasso | None:
    """A fair run that violates ``prop`` (an ``eventually`` or a ``leads_to`` without parts),
    or None when every fair run satisfies it.

    Parameters
    ----------
    ts : TransitionSystem
    g : LiveGraph
        The complete explored graph of ``ts`` (:func:`prepare`).
    prop : Property

    Returns
    -------
    Lasso or None
    """
    ex = g.ex
    states = ex.states
    if prop.kind == EVENTUALLY:
        good = _predicate(ts, ex, prop.expr)
        trigger = None
    else:
        good = _predicate(ts, ex, prop.target)
        trigger = _predicate(ts, ex, prop.expr)
    bad = {i for i in range(g.n) if i not in g.halted and not good(states[i])}
    if trigger is None:
        starts = [0] if 0 in bad else []
    else:
        starts = [i for i in sorted(bad) if trigger(states[i])]
    if not starts:
        return None
    bad = _reach_forward(g, starts, bad)  # only what a trigger can lead to matters
    comps = fair_components(g, bad & g.cyclic)
    member: dict[int, int] = {}
    for k, comp in enumerate(comps):
        for u in comp:
            member[u] = k
    ends = set(member) | (g.quiet & bad)
    if not ends:
        return None
    alive = _reach_back(g, ends, bad)
    t = next((i for i in starts if i in alive), None)
    if t is None:
        return None
    prefix = ex.trace_to(t)
    to_end = _path(g, t, bad, lambda s: s in ends)
    entry = to_end[-1][0]
    walk = to_end[1:]
    stutter = entry in g.quiet  # simpler to read than a cycle through the same state
    loop_at = len(prefix.actions) + len(walk)  # trace index of the entry state
    if not stutter:
        walk = walk + _cycle(g, entry, comps[member[entry]])
    states_out = prefix.states + tuple(g.unpack(states[s]) for s, _ in walk)
    actions_out = prefix.actions + tuple(a for _, a in walk)
    loop_start = loop_at if stutter else loop_at + 1
    return Lasso(Trace(states_out, actions_out, loop_start), len(prefix.actions), stutter)


# -- checking a lasso, whatever engine found it ------------------------------------------------
def lasso_problem(
    ts: TransitionSystem, prop: Property, trace: Trace, trigger: int | None = None
) -> str | None:
    """Why ``trace`` is not a fair counterexample to ``prop`` (an ``eventually`` or a
    ``leads_to`` without parts), or None when it is one. Uses only the reference interpreter:
    the run replays from the initial state, its loop closes (or it stutters in a state where
    no fairness group is enabled), the loop is fair, and the property never comes true from
    the trigger on (``trigger``: its index; None tries every state)."""
    if tuple(trace.states[0]) != ts.initial_state():
        return "the first state is not the initial state"
    for k, a in enumerate(trace.actions):
        if a not in ts.enabled(trace.states[k]):
            return f"step {k + 1}: action {a} is not enabled"
        if ts.fire(a, trace.states[k]) != tuple(trace.states[k + 1]):
            return f"step {k + 1}: action {a} leads to another state"
    j, n = trace.loop_start, len(trace.states) - 1
    if j is None or not 0 <= j <= n:
        return "not a lasso"
    last = trace.states[-1]
    if evaluate(ts.halted, last):
        return "the run ends in a crash"
    def unfair(loop_states: list, loop_actions: list) -> str | None:
        for f in ts.fairness:
            acts = set(f.actions)
            taken = any(a in acts for a in loop_actions)
            on = [any(a in acts for a in ts.enabled(s)) for s in loop_states]
            if f.kind == WEAK and all(on) and not taken:
                return f"the loop is unfair to {f.name} (weak)"
            if f.kind == STRONG and any(on) and not taken:
                return f"the loop is unfair to {f.name} (strong)"
        return None

    stutter = j == n and unfair([last], []) is None
    if not stutter:
        if j == 0 or tuple(trace.states[j - 1]) != tuple(last):
            return f"the last state is not the state before step {j}"
        why = unfair(list(trace.states[j - 1 : n]), list(trace.actions[j - 1 : n]))
        if why is not None:
            return why
    if prop.kind == EVENTUALLY:
        hit = [k for k, s in enumerate(trace.states) if evaluate(prop.expr, s)]
        return f"{prop.name} holds at step {hit[0]}" if hit else None
    first_loop = n if stutter else j - 1
    candidates = range(n + 1) if trigger is None else [trigger]
    for t in candidates:
        if not evaluate(prop.expr, trace.states[t]):
            continue
        span = range(min(t, first_loop), n + 1)
        if not any(evaluate(prop.target, trace.states[k]) for k in span):
            return None
    return f"no state of the run triggers {prop.name} without its target following"


def verify_lasso(ts: TransitionSystem, prop: Property, trace: Trace, trigger: int | None) -> None:
    """Raise InternalError unless ``trace`` is a fair counterexample to ``prop``."""
    why = lasso_problem(ts, prop, trace, trigger)
    if why is not None:
        raise InternalError(f"a liveness counterexample to {prop.name} is wrong: {why}")


# -- the properties of a system ----------------------------------------------------------------
def liveness_properties(ts: TransitionSystem, names: Sequence[str] = ()) -> list[Property]:
    """The liveness properties of ``ts`` (only those in ``names`` when it is not empty)."""
    return [p for p in ts.properties if p.kind in LIVENESS_KINDS and (not names or p.name in names)]


def without_liveness(ts: TransitionSystem) -> TransitionSystem:
    """``ts`` with its safety properties only, for the engines that know nothing else (a
    shallow copy: variables, actions and metadata are shared)."""
    if not liveness_properties(ts):
        return ts
    return replace(ts, properties=[p for p in ts.properties if p.kind not in LIVENESS_KINDS])


def full_exploration(
    ts: TransitionSystem,
    limits: Limits | None = None,
    progress: Callable[[dict], None] | None = None,
) -> Exploration:
    """Every reachable state and every edge, with no reduction (symmetry or partial-order
    reduction would drop the cycles liveness looks for)."""
    kwargs: dict[str, object] = {"keep_edges": True, "progress": progress}
    param = inspect.signature(explore).parameters.get("reductions")
    if param is not None:  # ask for none, whatever form the search takes them in
        default = param.default
        if isinstance(default, bool):
            kwargs["reductions"] = False
        elif isinstance(default, (tuple, list, set, frozenset)):
            kwargs["reductions"] = type(default)()
        else:
            kwargs["reductions"] = None
    return explore(ts, limits, **kwargs)


def check_liveness(
    ts: TransitionSystem,
    props: Sequence[Property] | None = None,
    limits: Limits | None = None,
    ex: Exploration | None = None,
    progress: Callable[[dict], None] | None = None,
) -> tuple[list[PropertyResult], dict[str, object]]:
    """Decide each liveness property of ``ts`` on the full explored graph.

    Parameters
    ----------
    ts : TransitionSystem
    props : sequence of Property, optional
        The properties to decide (default: every liveness property of ``ts``).
    limits : Limits, optional
        For the exploration; a limit makes every answer ``unknown``.
    ex : Exploration, optional
        A complete, unreduced exploration with edges to reuse.

    Returns
    -------
    (list of PropertyResult, dict)
        One result per property (a violation comes with a replayed, fair lasso), and
        figures for the report.
    """
    props = liveness_properties(ts) if props is None else list(props)
    start = time.monotonic()
    if ex is None or ex.edges_src is None:
        ex = full_exploration(ts, limits, progress)
    stats: dict[str, object] = {
        "properties": len(props),
        "fairness_groups": len(ts.fairness),
        "reductions": REDUCTIONS_NOTE,
        "states": len(ex.states),
        "transitions": ex.transitions,
        "complete": ex.complete,
        "interrupted": ex.interrupted,
    }
    if not ex.complete:
        why = ex.stop_reason + " (liveness needs the whole graph)"
        results = [PropertyResult(p.name, UNKNOWN, ENGINE, PARTIAL, reason=why) for p in props]
        return results, stats
    g = prepare(ts, ex)
    results = []
    for p in props:
        r = PropertyResult(p.name, HOLDS, ENGINE, EXHAUSTIVE)
        for inst in p.instances():
            found = find_lasso(ts, g, inst)
            if found is None:
                continue
            verify_lasso(ts, inst, found.trace, found.trigger)
            r = PropertyResult(p.name, VIOLATED, ENGINE, EXHAUSTIVE, trace=found.trace)
            r.stats.update(
                instance=inst.name,
                trigger=found.trigger,
                stutter=found.stutter,
                loop_start=found.trace.loop_start,
            )
            break
        r.stats["seconds"] = round(time.monotonic() - start, 3)
        results.append(r)
    return results, stats


def add_liveness(
    ts: TransitionSystem,
    result: CheckResult,
    names: Sequence[str] = (),
    limits: Limits | None = None,
    engine: str = "explicit",
    depth: int = 40,
    progress: Callable[[dict], None] | None = None,
) -> CheckResult:
    """``result`` (of the safety engines, run on :func:`without_liveness`) with the answers
    for the liveness properties of ``ts`` added: on the explicit graph for the ``explicit``
    and ``auto`` engines, by bounded lasso search (up to ``depth`` steps) for the symbolic
    ones. Only the properties in ``names`` when it is not empty."""
    props = liveness_properties(ts, names)
    if not props:
        return result
    limits = limits or Limits()
    if engine in ("explicit", "auto"):
        cut = _cut_short(result)
        if cut is not None:  # the same search again would stop at the same limit
            why = cut + " (liveness needs the whole graph)"
            results = [PropertyResult(p.name, UNKNOWN, ENGINE, PARTIAL, reason=why) for p in props]
            stats = {
                "properties": len(props),
                "fairness_groups": len(ts.fairness),
                "reductions": REDUCTIONS_NOTE,
                "complete": False,
            }
        else:
            timeout = limits.timeout
            if timeout is not None:  # what the safety search left of it
                timeout = max(0.001, timeout - float(result.stats.get("seconds") or 0.0))
            budget = limits.max_states
            if engine == "auto" and budget is None:
                budget = AUTO_STATE_BUDGET
            limits = Limits(budget, timeout, limits.max_memory_mb)
            results, stats = check_liveness(ts, props, limits, progress=progress)
    else:
        from nmrcheck.engines.symbolic.lasso import lasso_bmc_all

        results = lasso_bmc_all(ts, props, depth, limits.timeout)
        stats = {
            "properties": len(props),
            "fairness_groups": len(ts.fairness),
            "reductions": REDUCTIONS_NOTE,
            "engine": "lasso bmc",
            "depth": depth,
        }
    merged = CheckResult(list(result.results) + results, result.engine, dict(result.stats))
    merged.stats["liveness"] = stats
    if stats.get("interrupted"):
        merged.stats["interrupted"] = True
    return merged


def _cut_short(result: CheckResult) -> str | None:
    """Why the explicit search of ``result`` stopped before the end, or None."""
    st = result.stats
    if st.get("interrupted"):
        return "interrupted (Ctrl-C)"
    if "states" not in st or st.get("complete", True):
        return None
    for r in result.results:
        if r.engine == "explicit" and r.verdict == UNKNOWN and r.reason:
            return r.reason.split(" (")[0]
    limit = st.get("state_budget") or st.get("states")
    return f"state limit {limit} reached"


__all__ = [
    "LiveGraph",
    "add_liveness",
    "check_liveness",
    "fair_components",
    "find_lasso",
    "full_exploration",
    "lasso_problem",
    "liveness_properties",
    "prepare",
    "verify_lasso",
    "without_liveness",
]
