"""Breadth-first exploration of the reachable states: shortest counterexamples and the graph.

:func:`explore` stores every reachable state (one per orbit under symmetry reduction) in
breadth-first order with a parent pointer, so the parent chain of a state is a shortest path
to it. With ``keep_edges`` it also keeps every transition as compressed sparse rows (the
edges of state ``i`` are ``first[i]`` to ``first[i + 1] - 1`` of ``dst``, ``act`` and, under
symmetry, ``perm``), which hang detection (:mod:`.hangs`) and the liveness check
(:mod:`.liveness`) read without copying. :func:`check` decides every property of a system on
one exploration.
"""

from __future__ import annotations

import resource
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from nmrcheck import control
from nmrcheck.engines.common.checker import Limits
from nmrcheck.engines.explicit import arrays, forks, halves
from nmrcheck.engines.explicit.codegen import (
    ACTION_SHIFT,
    EDGE_SHIFT,
    Compiled,
    Full,
    busy_cache,
    compile_edge_expander,
    compile_expander,
    compile_system,
)
from nmrcheck.engines.explicit.frames import Frames
from nmrcheck.engines.explicit.symmetry import Symmetry
from nmrcheck.errors import InternalError
from nmrcheck.ir import INVARIANT, LIVENESS_KINDS, TransitionSystem
from nmrcheck.ir.trace import Trace

STOPPED_AT_VIOLATION = "stopped at the first violation"


class WaitMasks(Mapping[int, int]):
    """State index -> the threads busy but unable to move there (only nonzero masks), one
    array item per expanded state instead of a dict entry and two int objects."""

    def __init__(self, slots: int) -> None:
        code = next((c for c in "BHIQ" if slots <= 8 * array(c).itemsize), None)
        self.masks: array | list[int] = array(code) if code else []

    def __getitem__(self, i: int) -> int:
        w = self.masks[i] if 0 <= i < len(self.masks) else 0
        if not w:
            raise KeyError(i)
        return w

    def get(self, i: int, default: int = 0) -> int:  # type: ignore[override]
        w = self.masks[i] if 0 <= i < len(self.masks) else 0
        return w if w else default

    def __iter__(self) -> Iterator[int]:
        return (i for i, w in enumerate(self.masks) if w)

    def __len__(self) -> int:
        return len(self.masks) - self.masks.count(0)

    def __bool__(self) -> bool:
        return any(self.masks)

    def items(self):  # type: ignore[override]
        return ((i, w) for i, w in enumerate(self.masks) if w)

    def values(self):  # type: ignore[override]
        return (w for w in self.masks if w)


def peak_memory_mb() -> float:
    """The peak resident memory of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Ticker:
    """The search's look at the clock every so many states: its limits (and those of the run
    control), and the progress display about once a second."""

    def __init__(self, limits: Limits, start: float,
                 progress: Callable[[dict], None] | None) -> None:
        self.limits, self.start, self.progress = limits, start, progress
        self.next_tick = start + 1.0
        self.ctl = control.current()
        self.levels = [0, 1]  # where each breadth-first level ends

    def to_go(self, states: int, i: int) -> int | None:
        """About how many states are still to be found, once the levels shrink: the last two
        complete levels' ratio, continued as a geometric series; None while they grow."""
        lv = self.levels
        if len(lv) < 4:
            return None
        last, before = lv[-1] - lv[-2], lv[-2] - lv[-3]
        if not before or last >= 0.9 * before:
            return None
        r = last / before
        return int(max(0, states - lv[-1]) * r / (1 - r))

    def stop(self, states: int, transitions: int, depth: int, i: int,
             reserve_mb: float = 0.0) -> str:
        """Why the search stops here (a time or memory limit, a signal), or "" to go on;
        ``reserve_mb``: what the search still needs once it stops, within the memory limit."""
        limits, now = self.limits, time.monotonic()
        if limits.timeout is not None and now - self.start > limits.timeout:
            return f"time limit {limits.timeout:g} s reached"
        cap = limits.max_memory_mb or self.ctl.max_memory_mb
        if cap is not None and peak_memory_mb() + reserve_mb > cap:
            why = f"memory limit {cap} MiB reached"
            if not limits.max_memory_mb:  # the run's limit: the run stops, as at the limit
                self.ctl.stop(why)
            return why
        why = self.ctl.tick(states=states, transitions=transitions, depth=depth,
                            queue=states - i, seconds=now - self.start,
                            to_go=self.to_go(states, i))
        if why:
            return why
        if self.progress is not None and now >= self.next_tick:
            self.next_tick = now + 1.0
            self.progress({
                "phase": "search",
                "states": states,
                "transitions": transitions,
                "depth": depth,
                "queue": states - i,
                "seconds": now - self.start,
                "memory_mb": control.resident_mb(),
            })
        return ""


@dataclass
class Exploration:
    """The explored state graph: packed states in BFS order with parent pointers, and (when
    kept) every edge as compressed sparse rows over the first ``expanded`` states."""

    compiled: Compiled
    states: list[int]
    parent: array
    via: array
    first: array | None  # edges of state i: first[i] .. first[i + 1] - 1
    dst: array | None
    act: array | None
    perm: array | None  # per edge: the id in ``frames`` of its instance mapping (symmetry)
    waiting: WaitMasks  # state index -> threads busy there but unable to move
    complete: bool
    stop_reason: str
    interrupted: bool
    transitions: int
    max_depth: int
    seconds: float
    found: dict[int, int] = field(default_factory=dict)  # safety property index -> state
    symmetry: Symmetry | None = None
    initial: int = 0  # the packed initial state
    frames: Frames = field(default_factory=Frames)
    expanded: int = 0  # states expanded (a prefix of ``states``)
    groups: array | list = field(default_factory=list)  # per state: fairness groups enabled
    stopped_at: int = -1  # the violating state the search stopped at, or -1
    atoms: tuple | None = None  # what ``explore``'s ``beside`` made (its twin and itself)

    # -- the edges in the forms other code reads -----------------------------------------
    @property
    def edges_src(self) -> array | None:
        """The source of every edge (expanded from the rows)."""
        if self.first is None:
            return None
        out = array("I")
        f = self.first
        for i in range(len(f) - 1):
            out.extend([i] * (f[i + 1] - f[i]))
        return out

    @property
    def edges_dst(self) -> array | None:
        return self.dst

    @property
    def edges_act(self) -> array | None:
        return self.act

    def out(self, i: int) -> range:
        """The edge numbers of state ``i`` (empty for a state not expanded)."""
        f = self.first
        if f is None or i + 1 >= len(f):
            return range(0)
        return range(f[i], f[i + 1])

    def slot_perm(self, pid: int) -> tuple[int, ...]:
        """Thread ``k`` of an edge's real successor is thread ``slot_perm(pid)[k]`` of the
        representative it leads to."""
        if self.symmetry is None or not pid:
            return tuple(range(len(self.symmetry.slot_names))) if self.symmetry else ()
        return self.symmetry.slot_perm(self.frames.maps[pid])

    # -- traces ----------------------------------------------------------------------------
    def path_to(self, j: int) -> list[int]:
        """The state indices of the BFS path from the initial state to state ``j``."""
        idx = []
        while j >= 0:
            idx.append(j)
            j = self.parent[j]
        idx.reverse()
        return idx

    def concrete(self, idx: Sequence[int]) -> tuple[Trace, list[int]]:
        """A real run through the orbits of the states ``idx`` (a path of the reduced graph).

        From the real initial state, each step takes the first successor (in successor order)
        whose representative is the next state of the path. Returns the trace and its packed
        states.
        """
        sym = self.symmetry
        assert sym is not None
        succ, canon = self.compiled.successors, sym.canon
        s = self.initial
        packed, actions = [s], []
        for c in (self.states[i] for i in idx[1:]):
            step = next(((a, t) for a, t in succ(s)[0] if canon(t) == c), None)
            if step is None:
                raise InternalError("a path of the symmetry-reduced graph has no real run")
            a, t = step
            actions.append(a)
            packed.append(t)
            s = t
        unpack = self.compiled.layout.unpack
        return Trace(tuple(unpack(x) for x in packed), tuple(actions)), packed

    def trace_to(self, j: int) -> Trace:
        """The BFS path from the initial state to state ``j``, decoded (a real run, with real
        instance names, under symmetry reduction)."""
        idx = self.path_to(j)
        if self.symmetry is not None:
            return self.concrete(idx)[0]
        unpack = self.compiled.layout.unpack
        states = tuple(unpack(self.states[i]) for i in idx)
        actions = tuple(self.via[i] for i in idx[1:])
        return Trace(states, actions)

    def depth_of(self, j: int) -> int:
        d = 0
        while self.parent[j] >= 0:
            j = self.parent[j]
            d += 1
        return d


_VIEW: list[tuple[TransitionSystem, list, TransitionSystem]] = []  # the last view made


def safety_view(ts: TransitionSystem) -> TransitionSystem:
    """``ts`` with its safety properties only (the ones a state search decides). The last
    view is remembered, so the probe and the search of one check share one compiled system."""
    if not any(p.kind in LIVENESS_KINDS for p in ts.properties):
        return ts
    if _VIEW and _VIEW[0][0] is ts and _VIEW[0][1] == ts.properties:
        return _VIEW[0][2]
    view = replace(ts, properties=[p for p in ts.properties if p.kind not in LIVENESS_KINDS])
    _VIEW[:] = [(ts, list(ts.properties), view)]
    return view


@dataclass
class _Store:
    """What every loop of :func:`explore` appends to, and the ``new`` callback that stores a
    state: parent pointer, action, the properties found there, and the stops."""

    states: list[int]
    parent: array
    via: array
    found_in: Callable[[int, int], int]
    cap: int  # the state limit, or -1
    stop_mask: int  # properties whose first violation ends the search
    index: dict[int, int] | None = None  # state -> index (with edges)
    seen: set[int] | None = None  # without edges
    found: dict[int, int] = field(default_factory=dict)
    seen_mask: int = 0
    stopped_at: int = -1
    full: bool = False
    depth_bound: int = -1  # expand no state at this depth (-1: no bound)

    def level(self, ex: Exploration, depth: int) -> bool:
        """Whether the search may go on to expand the states at ``depth``; when not, it is
        marked incomplete."""
        if self.depth_bound < 0 or depth < self.depth_bound:
            return True
        ex.complete, ex.stop_reason = False, f"depth bound {self.depth_bound} reached"
        return False

    def record(self, m: int, j: int) -> None:
        pi = 0
        while m >> pi:
            if m >> pi & 1:
                self.found[pi] = j
            pi += 1
        self.seen_mask |= m

    def new(self, t: int, a: int, i: int, found: int = -1) -> int:
        """Store ``t``, reached from state ``i`` by action ``a``; returns its index.
        ``found``: the properties found at ``t``, when known already (``found_in(t, 0)``)."""
        states = self.states
        j = len(states)
        if j == self.cap:
            self.full = True
            raise Full
        states.append(t)
        if self.index is not None:
            self.index[t] = j
        else:
            self.seen.add(t)  # type: ignore[union-attr]
        self.parent.append(i)
        self.via.append(a)
        m = self.found_in(t, self.seen_mask) if found < 0 else found & ~self.seen_mask
        if m:
            self.record(m, j)
            if m & self.stop_mask:
                self.stopped_at = j
                raise Full
        return j


def explore(
    ts: TransitionSystem,
    limits: Limits | None = None,
    keep_edges: bool = True,
    progress: Callable[[dict], None] | None = None,
    symmetry: Symmetry | None = None,
    reduce: Callable[..., list[tuple[int, int]]] | None = None,
    stop_at_violation: bool = False,
    max_depth: int | None = None,
    generated: bool = True,
    split: bool | None = None,
    beside: Callable[[Exploration], halves.Beside] | None = None,
) -> Exploration:
    """Explore every reachable state of ``ts`` breadth first.

    Parameters
    ----------
    ts : TransitionSystem
        Its safety properties are evaluated in every new state (``found``).
    limits : Limits, optional
        State, time and memory budget (the run control's limits apply too); when one is
        reached, ``complete`` is False.
    keep_edges : bool
        Keep every transition (hang detection, liveness, the graph).
    progress : callable, optional
        Called about once a second with a dict of figures.
    symmetry : Symmetry, optional
        Store one state per orbit of the group (from ``symmetry.analyse(ts)``, which checks
        that it is sound for every property of ``ts``). None: no reduction.
    reduce : callable, optional
        ``reduce(s, out, seen, canon)``: the successors of ``s`` to follow (``por.Reducer``);
        only without edges.
    stop_at_violation : bool
        End the search at the first state where an invariant fails (``stopped_at``): in
        breadth-first order its trace is a shortest counterexample.
    max_depth : int, optional
        Expand only the states less than this many steps from the initial state (every
        state up to that depth is then stored and checked); the search is then not
        ``complete`` when there are more.
    generated : bool
        Expand with a generated loop (the default: fastest for all but tiny searches; it
        costs a fraction of a second to generate) rather than the general one.
    split : bool, optional
        Expand each large level in two processes (:mod:`.halves`; the same result as one
        process, state for state). Default: where the machine has a second core.
    beside : callable, optional
        ``beside(ex)``: work on the stored states in index order (:class:`halves.Beside`)
        that the twin of a split search with edges does while it would wait; what it made
        is ``atoms`` when the search is complete (None when no twin ran).

    Returns
    -------
    Exploration
        States in BFS order, so the parent chain of any state is a shortest path to it.

    Notes
    -----
    Memory per stored state: the packed int (shared by ``states`` and the index or seen
    set), one dict or set slot, and 8 bytes of parent and action; per edge, 4 bytes of
    target, 2 of action and 1 or 2 of instance mapping.
    """
    if reduce is not None and keep_edges:
        raise ValueError("partial-order reduction keeps no edges")
    limits = limits or Limits()
    split = forks.usable() if split is None else split
    ts = safety_view(ts)
    with control.current().abortable():  # generating code for a large design takes a while
        comp = compile_system(ts)
    start = time.monotonic()
    initial = comp.layout.pack(ts.initial_state())
    s0 = symmetry.canon(initial) if symmetry is not None else initial
    stop_mask = 0
    if stop_at_violation:
        for pi, p in enumerate(ts.properties):
            if p.kind == INVARIANT:
                stop_mask |= 1 << pi
    store = _Store(
        [], array("i"), array("i"), comp.found,
        limits.max_states if limits.max_states is not None else -1, stop_mask,
        index={} if keep_edges else None, seen=None if keep_edges else set(),
        depth_bound=max_depth if max_depth is not None else -1,
    )
    ex = Exploration(
        comp, store.states, store.parent, store.via, None, None, None, None,
        WaitMasks(len(ts.slots)), True, "", False, 0, 0, 0.0,
        store.found, symmetry, initial,
    )
    try:
        store.new(s0, -1, -1)
        if keep_edges:
            _edge_loop(ts, ex, store, limits, progress, start, split, beside)
        elif reduce is None and generated:
            _fused(ts, ex, store, limits, progress, start, split)
        else:
            _general(ts, ex, store, limits, progress, start, reduce)
    except Full:  # the initial state itself violates an invariant
        ex.complete, ex.stop_reason = False, STOPPED_AT_VIOLATION
        ex.stopped_at = 0
    ex.found = store.found
    if store.stopped_at >= 0:
        ex.stopped_at = store.stopped_at
    # The index or set of the states is not needed now, and the generated code's namespace
    # (a reference cycle) holds it until a full collection: about 60 bytes a state.
    for lookup in (store.index, store.seen):
        if lookup is not None:
            lookup.clear()
    ex.seconds = time.monotonic() - start
    return ex


def _levels(ex: Exploration, i: int, depth: int, level_end: int) -> None:
    """Set ``max_depth`` from where the loop stopped: state ``i`` at ``depth``, the states
    from ``level_end`` on one deeper."""
    n = len(ex.states)
    if i < n and i == level_end:
        depth += 1
        level_end = n
    ex.max_depth = depth + 1 if n > level_end else depth


def _memory_bound(limits: Limits) -> int:
    """The memory limit of the search: the given one, the run control's, or the default."""
    return (limits.max_memory_mb or control.current().max_memory_mb
            or control.default_memory_mb())


def _why_full(ex: Exploration, store: _Store, limits: Limits) -> str:
    if store.stopped_at >= 0:
        return STOPPED_AT_VIOLATION
    return f"state limit {limits.max_states} reached"


def _edge_loop(ts: TransitionSystem, ex: Exploration, store: _Store, limits: Limits,
               progress: Callable[[dict], None] | None, start: float, split: bool,
               beside: Callable[[Exploration], halves.Beside] | None = None) -> None:
    """The loop of :func:`explore` that keeps every edge: one generated function
    (``codegen.compile_edge_expander``) expands a block of states, appending each edge as
    one int; the edges are split into their arrays at the end (:mod:`.arrays`)."""
    comp, sym = ex.compiled, ex.symmetry
    states, index = store.states, store.index
    assert index is not None
    first, packed = array("I"), array("Q")
    ex.first = first
    if sym is not None:
        ex.frames = sym.frames
    frames = ex.frames
    E, W, size = packed.append, ex.waiting.masks.append, packed.__len__

    def F() -> None:
        first.append(size())

    look, new = index.get, store.new
    names: dict[str, object] = busy_cache(comp)
    canon_of, prelude = None, []
    if sym is not None:
        canon_of, fns, prelude = sym.stepper(ts, maps=True)
        names.update(fns)
        names["slow"] = _edge_slow_path(comp, sym, frames, look, new, E, W)
    with control.current().abortable():
        expand = compile_edge_expander(ts, canon_of, names, prelude)[0]
    masks = ex.waiting.masks

    part = halves.EdgeHalf(store, lambda lo, hi: expand(states, lo, hi, look, new, E, F, W),
                           first, packed, masks, frames,
                           (lambda: beside(ex)) if beside is not None else None)
    i = depth = 0
    level_end = end = 1
    ticker = _Ticker(limits, start, progress)
    two = halves.Split(split, _memory_bound(limits), part,
                       lambda: arrays.prepare(len(packed)))
    try:
        while i < len(states):
            if i == level_end:
                depth += 1
                level_end = len(states)
                ticker.levels.append(level_end)
                end = two.begin(i, level_end) if store.level(ex, depth) else level_end
            if not store.level(ex, depth):
                break
            hi = min(end, i + 1024)
            full = expand(states, i, hi, look, new, E, F, W)
            if full < 0 and hi == end < level_end:
                (_, full), hi = two.finish(), level_end
            if full >= 0:  # the state being expanded is cut off: its edges go
                i = full
                _cut(first, packed, masks, i)
                ex.complete, ex.stop_reason = False, _why_full(ex, store, limits)
                break
            i = hi
            # splitting the edges into their arrays holds up to twice their bytes a moment
            reason = ticker.stop(len(states), len(packed), depth, i, 16 * len(packed) / 2**20)
            if reason:
                ex.complete, ex.stop_reason = False, reason
                break
        if ex.complete:
            ex.atoms = two.gather(len(states))
    except (KeyboardInterrupt, control.Stopped):  # a signal, here or to the twin
        i = len(masks)  # keep the states expanded in full
        _cut(first, packed, masks, i)
        _consistent(store)
        ex.complete, ex.stop_reason, ex.interrupted = False, control.INTERRUPTED, True
    finally:
        two.stop()
    first.append(len(packed))
    ex.expanded = len(first) - 1
    ex.transitions = len(packed)
    ex.dst, ex.act, ex.perm = arrays.split_edges(packed, len(ts.actions), sym is not None)
    ex.groups = arrays.enabled_groups(first, ex.act, action_groups(ts))
    if ticker.ctl.interrupted:
        ex.interrupted = True
    _levels(ex, i, depth, level_end)


def _edge_slow_path(comp: Compiled, sym: Symmetry, frames: Frames,
                    look: Callable[[int], int | None], new: Callable[[int, int, int], int],
                    E: Callable[[int], None], W: Callable[[int], None],
                    ) -> Callable[[int, int], None]:
    """``slow(s, i)``: state ``i`` expanded by the general code, for the states the
    generated loop of :func:`_edge_loop` hands over (whose instance keys do not settle the
    representatives of their successors); it appends their edges and waiting mask."""
    succ, canon_map, busy = comp.successors, sym.canon_map, comp.busy

    def slow(s: int, i: int) -> None:
        out, en = succ(s)
        if en < 0:
            W(0)
            return
        for a, t in out:
            u, m = canon_map(t)
            j = look(u)
            if j is None:
                j = new(u, a, i)
            E(j << EDGE_SHIFT | a << ACTION_SHIFT | frames.id_of(m))
        W(busy(s) & ~en)

    return slow


def action_groups(ts: TransitionSystem) -> list[int]:
    """Per action, the mask of the fairness groups it belongs to (bit g: ``ts.fairness[g]``)."""
    out = [0] * len(ts.actions)
    for g, f in enumerate(ts.fairness):
        for a in f.actions:
            out[a] |= 1 << g
    return out


def _cut(first: array, packed: array, waiting: array | list, i: int) -> None:
    """Drop what a cut-off expansion of state ``i`` appended: its row and its edges."""
    if len(first) > i:
        e = first[i]
        del first[i:]
        del packed[e:]
    del waiting[i:]


def _consistent(store: _Store) -> None:
    """After an interrupt inside ``new``: drop a state stored only in part."""
    n = min(len(store.states), len(store.parent), len(store.via))
    for seq in (store.states, store.parent, store.via):
        del seq[n:]


def _fused(ts: TransitionSystem, ex: Exploration, store: _Store, limits: Limits,
           progress: Callable[[dict], None] | None, start: float, split: bool) -> None:
    """The loop of :func:`explore` without edges and without partial-order reduction: one
    generated function (``codegen.compile_expander``) expands a block of states, with each
    successor looked up where it is made."""
    comp, symmetry, states, seen = ex.compiled, ex.symmetry, store.states, store.seen
    new = store.new
    names: dict[str, object] = {}
    canon_of, prelude = None, []
    if symmetry is not None:
        canon_of, names, prelude = symmetry.stepper(ts)
        succ, canon = comp.successors, symmetry.canon

        def slow(s: int, i: int) -> int:
            out = succ(s)[0]
            for a, t in out:
                t = canon(t)
                if t not in seen:
                    new(t, a, i)
            return len(out)

        names["slow"] = slow
    with control.current().abortable():
        expand = compile_expander(ts, canon_of, names, prelude)[0]

    part = halves.CountHalf(store, lambda k: expand(states, k, k + 1, seen, new)[0])
    i = depth = transitions = 0
    level_end = end = 1
    ticker = _Ticker(limits, start, progress)
    two = halves.Split(split, _memory_bound(limits), part)
    try:
        while i < len(states):
            if i == level_end:
                depth += 1
                level_end = len(states)
                ticker.levels.append(level_end)
                end = two.begin(i, level_end) if store.level(ex, depth) else level_end
            if not store.level(ex, depth):
                break
            hi = min(end, i + 1024)
            n, full = expand(states, i, hi, seen, new)
            transitions += n
            if full < 0 and hi == end < level_end:
                (n, full), hi = two.finish(), level_end
                transitions += n
            if full >= 0:  # counted like the general loop: every transition of that state
                transitions += len(comp.successors(states[full])[0])
                i = full
                ex.complete, ex.stop_reason = False, _why_full(ex, store, limits)
                break
            i = hi
            reason = ticker.stop(len(states), transitions, depth, i)
            if reason:
                ex.complete, ex.stop_reason = False, reason
                break
    except (KeyboardInterrupt, control.Stopped):  # a signal, here or to the twin
        _consistent(store)
        ex.complete, ex.stop_reason, ex.interrupted = False, control.INTERRUPTED, True
    finally:
        two.stop()
    if ticker.ctl.interrupted:
        ex.interrupted = True
    ex.transitions, ex.expanded = transitions, i
    _levels(ex, i, depth, level_end)


def _general(ts: TransitionSystem, ex: Exploration, store: _Store, limits: Limits,
             progress: Callable[[dict], None] | None, start: float,
             reduce: Callable[..., list[tuple[int, int]]] | None) -> None:
    """The loop of :func:`explore` without edges and without generated code, under
    partial-order reduction when ``reduce`` is given."""
    comp, symmetry, states, seen = ex.compiled, ex.symmetry, store.states, store.seen
    assert seen is not None
    succ, new = comp.successors, store.new
    canon = canon_next = parent_keys = keys = None
    if symmetry is not None:
        canon, canon_next, parent_keys = symmetry.canon, symmetry.canon_next, symmetry.parent_keys
    i = depth = transitions = 0
    level_end = 1
    ticker = _Ticker(limits, start, progress)
    try:
        while i < len(states):
            if i == level_end:
                depth += 1
                level_end = len(states)
                ticker.levels.append(level_end)
            if not store.level(ex, depth):
                break
            s = states[i]
            out, _ = succ(s)
            if parent_keys is not None:
                keys = parent_keys(s)
            if reduce is not None:
                out = reduce(s, out, seen, canon)
            try:
                for a, t in out:
                    if canon_next is not None:
                        t = canon_next(t, s, keys)
                    if t not in seen:
                        new(t, a, i)
            except Full:
                ex.complete, ex.stop_reason = False, _why_full(ex, store, limits)
                transitions += len(out)
                break
            transitions += len(out)
            i += 1
            if (i & 1023) == 0:
                reason = ticker.stop(len(states), transitions, depth, i)
                if reason:
                    ex.complete, ex.stop_reason = False, reason
                    break
    except KeyboardInterrupt:
        ex.complete, ex.stop_reason, ex.interrupted = False, control.INTERRUPTED, True
    ex.transitions, ex.expanded = transitions, i
    _levels(ex, i, depth, level_end)


def csr_offsets(keys: Sequence[int], n: int) -> array:
    """Offsets of a compressed sparse row index over nodes ``0..n-1``: the items with key
    ``k`` are at positions ``out[k]`` to ``out[k + 1] - 1`` once sorted by key."""
    out = array("I", bytes(4 * (n + 1)))
    for k in keys:
        out[k + 1] += 1
    for k in range(n):
        out[k + 1] += out[k]
    return out
