"""Breadth-first exploration of the reachable states: shortest counterexamples, hangs, graph."""

from __future__ import annotations

import resource
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from nmrcheck.engines.explicit.codegen import Compiled, Full, compile_expander, compile_system
from nmrcheck.engines.explicit.symmetry import Symmetry
from nmrcheck.engines.explicit.symmetry import analyse as analyse_symmetry
from nmrcheck.engines.result import (
    EXHAUSTIVE,
    HOLDS,
    PARTIAL,
    UNKNOWN,
    UNREACHABLE,
    VIOLATED,
    WITNESSED,
    CheckResult,
    PropertyResult,
)
from nmrcheck.errors import InternalError
from nmrcheck.ir import INVARIANT, TransitionSystem
from nmrcheck.ir.trace import Trace

HANG = "no_hang"


@dataclass
class Limits:
    """When to stop early; a stop makes open properties ``unknown``."""

    max_states: int | None = None
    timeout: float | None = None
    max_memory_mb: int | None = None


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


TABLE_FROM = 1 << 17  # from this many states on, index them in a StateTable, not a dict
_MIX = 0x9E3779B97F4A7C15


class StateTable:
    """The index of the stored states (state -> its position in ``states``) as an
    open-addressing table of 4-byte positions, at most half full: 8 to 16 bytes per state
    instead of a dict entry and an int object (about 74 bytes). A ``Container`` of states."""

    def __init__(self, states: list[int]) -> None:
        self.states = states
        self.tab = array("I")
        self.mask = 0
        self.grow()

    def grow(self) -> None:
        """Rebuild for twice as many states as there are now."""
        size = 1 << max(4, (2 * len(self.states)).bit_length())
        tab = array("I", bytes(4 * size))
        mask = size - 1
        for j, st in enumerate(self.states, 1):
            h = (hash(st) * _MIX >> 32) & mask
            while tab[h]:
                h = (h + 1) & mask
            tab[h] = j
        self.tab, self.mask = tab, mask

    def get(self, t: int) -> int | None:
        tab, mask, states = self.tab, self.mask, self.states
        h = (hash(t) * _MIX >> 32) & mask
        j = tab[h]
        while j and states[j - 1] != t:
            h = (h + 1) & mask
            j = tab[h]
        return j - 1 if j else None

    def __contains__(self, t: object) -> bool:
        return isinstance(t, int) and self.get(t) is not None


def peak_memory_mb() -> float:
    """The peak resident memory of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Ticker:
    """The search's look at the clock every so many states: its limits, and the progress
    display about once a second."""

    def __init__(self, limits: Limits, start: float,
                 progress: Callable[[dict], None] | None) -> None:
        self.limits, self.start, self.progress = limits, start, progress
        self.next_tick = start + 1.0

    def stop(self, states: int, transitions: int, depth: int, i: int) -> str:
        """Why the search stops here (a time or memory limit), or "" to go on."""
        limits, now = self.limits, time.monotonic()
        if limits.timeout is not None and now - self.start > limits.timeout:
            return f"time limit {limits.timeout:g} s reached"
        if limits.max_memory_mb is not None and peak_memory_mb() > limits.max_memory_mb:
            return f"memory limit {limits.max_memory_mb} MiB reached"
        if self.progress is not None and now >= self.next_tick:
            self.next_tick = now + 1.0
            self.progress({
                "states": states,
                "transitions": transitions,
                "depth": depth,
                "queue": states - i,
                "seconds": now - self.start,
                "memory_mb": peak_memory_mb(),
            })
        return ""


@dataclass
class Exploration:
    """The explored state graph: packed states in BFS order with parent pointers."""

    compiled: Compiled
    states: list[int]
    parent: array
    via: array
    edges_src: array | None
    edges_dst: array | None
    edges_act: array | None
    # state index -> threads busy there but unable to move (hangs: only kept with the edges)
    waiting: Mapping[int, int]
    complete: bool
    stop_reason: str
    interrupted: bool
    transitions: int
    max_depth: int
    seconds: float
    found: dict[int, int] = field(default_factory=dict)  # property index -> first state index
    # symmetry reduction: states are orbit representatives; edge e goes to the representative
    # of the real successor, whose thread k is thread slot_perms[edges_perm[e]][k] there
    symmetry: Symmetry | None = None
    initial: int = 0  # the packed initial state
    edges_perm: array | None = None
    slot_perms: list[tuple[int, ...]] = field(default_factory=list)

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


def explore(
    ts: TransitionSystem,
    limits: Limits | None = None,
    keep_edges: bool = True,
    progress: Callable[[dict], None] | None = None,
    symmetry: Symmetry | None = None,
    reduce: Callable[..., list[tuple[int, int]]] | None = None,
) -> Exploration:
    """Explore every reachable state of ``ts`` breadth first.

    Parameters
    ----------
    ts : TransitionSystem
    limits : Limits, optional
        State and time budget; when one is reached, ``complete`` is False.
    keep_edges : bool
        Keep every transition (needed for hang detection and the graph).
    progress : callable, optional
        Called about once a second with a dict of figures.
    symmetry : Symmetry, optional
        Store one state per orbit of the group (from ``symmetry.analyse(ts)``, which checks
        that it is sound for every safety property of ``ts``). None: no reduction.
    reduce : callable, optional
        ``reduce(s, out, seen, canon)``: the successors of ``s`` to follow (``por.Reducer``).

    Returns
    -------
    Exploration
        States in BFS order, so the parent chain of any state is a shortest path to it.

    Notes
    -----
    Memory per stored state: the packed int (shared by ``states`` and the seen set or the
    index), one set or dict slot, and 8 bytes of parent and action. Depths are not stored:
    BFS order makes them level boundaries. Without edges the seen set holds no index at all.
    """
    limits = limits or Limits()
    comp = compile_system(ts)
    succ, busy = comp.successors, comp.busy
    # one generated call per new state finds the invariants that fail there and the
    # reachable properties that hold
    found_in = comp.found
    nprops = len(ts.properties)
    start = time.monotonic()
    initial = comp.layout.pack(ts.initial_state())
    canon = canon_next = canon_map = parent_keys = None
    keys = None
    if symmetry is not None:
        # representatives of successors, incrementally from the keys of the expanded state
        canon, canon_next, parent_keys = symmetry.canon, symmetry.canon_next, symmetry.parent_keys
        if keep_edges:
            canon_map = symmetry.canon_map_next
    s0 = symmetry.canon(initial) if symmetry is not None else initial
    index: dict[int, int] = {s0: 0}
    seen: set[int] = {s0}
    if keep_edges:
        seen = set()  # the index is the seen set
    else:
        index = {}  # new states need no index: their parent is the state being expanded
    states = [s0]
    parent = array("i", [-1])
    via = array("i", [-1])
    src = array("I") if keep_edges else None
    dst = array("I") if keep_edges else None
    act = array("H" if len(ts.actions) < 1 << 16 else "I") if keep_edges else None
    eperm = array("H") if canon_map is not None else None
    perm_id: dict = {None: 0}
    slot_perms: list[tuple[int, ...]] = [tuple(range(len(ts.slots)))]
    waiting = WaitMasks(len(ts.slots))
    found: dict[int, int] = {}

    def record(m: int, j: int) -> int:
        for pi in range(nprops):
            if m >> pi & 1:
                found[pi] = j
        return m

    seen_mask = record(found_in(s0, 0), 0)
    cap = max_states if (max_states := limits.max_states) is not None else -1

    states_append, parent_append, via_append = states.append, parent.append, via.append
    seen_add, index_get = seen.add, index.get

    def new(t: int, a: int, i: int) -> None:
        """Store ``t``, reached from state ``i`` by action ``a`` (without edges)."""
        nonlocal seen_mask
        if len(states) == cap:
            raise Full
        seen_add(t)
        states_append(t)
        parent_append(i)
        via_append(a)
        m = found_in(t, seen_mask)
        if m:
            seen_mask |= record(m, len(states) - 1)

    transitions = 0
    i = 0
    depth = 0  # the depth of state i; states from level_end on are one deeper
    level_end = 1
    complete = True
    reason = ""
    ticker = _Ticker(limits, start, progress)
    interrupted = False
    fused = not keep_edges and reduce is None
    try:
        if fused:
            i, depth, level_end, transitions, complete, reason, interrupted = _fused(
                ts, comp, symmetry, limits, progress, start, states, seen, new
            )
        table: StateTable | None = None
        table_from = TABLE_FROM
        tab, tmask = array("I"), 0
        waiting_append = waiting.masks.append
        if keep_edges:
            src_append, dst_append, act_append = src.append, dst.append, act.append
        while not fused and i < len(states):
            if i == level_end:
                depth += 1
                level_end = len(states)
            s = states[i]
            out, en = succ(s)
            if parent_keys is not None:
                keys = parent_keys(s)
            if reduce is not None:  # partial-order reduction (por.Reducer)
                out = reduce(s, out, (table or index) if keep_edges else seen, canon)
            # en == -1: a halted (crashed) state, which is neither expanded nor a hang
            waiting_append(busy(s) & ~en if en >= 0 else 0)
            for a, t in out:
                if keep_edges:
                    if canon_map is not None:
                        t, m = canon_map(t, s, keys)
                        pid = perm_id.get(m)
                        if pid is None:
                            pid = perm_id[m] = len(slot_perms)
                            slot_perms.append(symmetry.slot_perm(m))
                        eperm.append(pid)
                    if table is None:
                        j = index_get(t)
                    else:  # StateTable.get, inline
                        h = (hash(t) * _MIX >> 32) & tmask
                        j = tab[h]
                        while j and states[j - 1] != t:
                            h = (h + 1) & tmask
                            j = tab[h]
                        j = j - 1 if j else None
                    if j is None:
                        if max_states is not None and len(states) >= max_states:
                            complete, reason = False, f"state limit {max_states} reached"
                            if eperm is not None:
                                eperm.pop()
                            break
                        j = len(states)
                        states_append(t)
                        if table is not None:
                            tab[h] = j + 1
                            if 2 * j > tmask:
                                table.grow()
                                tab, tmask = table.tab, table.mask
                        elif j < table_from:
                            index[t] = j
                        else:
                            table = StateTable(states)
                            tab, tmask = table.tab, table.mask
                            index.clear()
                        parent_append(i)
                        via_append(a)
                        m = found_in(t, seen_mask)
                        if m:
                            seen_mask |= record(m, j)
                    src_append(i)
                    dst_append(j)
                    act_append(a)
                else:
                    if canon_next is not None:
                        t = canon_next(t, s, keys)
                    if t in seen:
                        continue
                    try:
                        new(t, a, i)
                    except Full:
                        complete, reason = False, f"state limit {max_states} reached"
                        break
            transitions += len(out)
            i += 1
            if not complete:
                break
            if (i & 1023) == 0:
                reason = ticker.stop(len(states), transitions, depth, i)
                if reason:
                    complete = False
                    break
    except KeyboardInterrupt:
        complete, reason, interrupted = False, "interrupted (Ctrl-C)", True
    if i < len(states) and i == level_end:
        depth += 1
        level_end = len(states)
    max_depth = depth + 1 if len(states) > level_end else depth
    del seen, index
    return Exploration(
        comp,
        states,
        parent,
        via,
        src,
        dst,
        act,
        waiting,
        complete,
        reason,
        interrupted,
        transitions,
        max_depth,
        time.monotonic() - start,
        found,
        symmetry,
        initial,
        eperm,
        slot_perms,
    )


def _fused(
    ts: TransitionSystem,
    comp: Compiled,
    symmetry: Symmetry | None,
    limits: Limits,
    progress: Callable[[dict], None] | None,
    start: float,
    states: list[int],
    seen: set[int],
    new: Callable[[int, int, int], None],
) -> tuple[int, int, int, int, bool, str, bool]:
    """The loop of :func:`explore` when it keeps no edges and does not reduce by partial
    order: one generated function (``codegen.compile_expander``) expands a block of states,
    with each successor looked up where it is made. Same states in the same order as the
    general loop. Returns ``(i, depth, level_end, transitions, complete, reason,
    interrupted)``."""
    max_states = limits.max_states
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
    expand = compile_expander(ts, canon_of, names, prelude)[0]
    i = depth = transitions = 0
    level_end = 1
    complete, reason, interrupted = True, "", False
    ticker = _Ticker(limits, start, progress)
    try:
        while i < len(states):
            if i == level_end:
                depth += 1
                level_end = len(states)
            hi = min(level_end, i + 1024)
            n, full = expand(states, i, hi, seen, new)
            transitions += n
            if full >= 0:  # counted like the general loop: every transition of that state
                transitions += len(comp.successors(states[full])[0])
                i = full
                complete, reason = False, f"state limit {max_states} reached"
                break
            i = hi
            reason = ticker.stop(len(states), transitions, depth, i)
            if reason:
                complete = False
                break
    except KeyboardInterrupt:
        complete, reason, interrupted = False, "interrupted (Ctrl-C)", True
    return i, depth, level_end, transitions, complete, reason, interrupted


def csr_offsets(keys: Sequence[int], n: int) -> array:
    """Offsets of a compressed sparse row index over nodes ``0..n-1``: the items with key
    ``k`` are at positions ``out[k]`` to ``out[k + 1] - 1`` once sorted by key."""
    out = array("I", bytes(4 * (n + 1)))
    for k in keys:
        out[k + 1] += 1
    for k in range(n):
        out[k + 1] += out[k]
    return out


def find_hangs(ex: Exploration) -> dict[int, int]:
    """States where a thread is blocked forever: slot -> first (shortest) such state index.

    A slot is blocked in a state when it is running but none of its actions is enabled. It is
    blocked forever when no state reachable from there lets it move again.
    """
    if not ex.waiting or ex.edges_src is None:
        return {}
    if ex.edges_perm is not None:
        return _find_hangs_reduced(ex)
    n = len(ex.states)
    # reverse adjacency (CSR)
    count = array("I", bytes(4 * (n + 1)))
    for d in ex.edges_dst:
        count[d + 1] += 1
    for k in range(n):
        count[k + 1] += count[k]
    pos = array("I", count)
    preds = array("I", bytes(4 * len(ex.edges_dst)))
    for s_, d in zip(ex.edges_src, ex.edges_dst):
        preds[pos[d]] = s_
        pos[d] += 1
    slots: set[int] = set()
    for w in ex.waiting.values():
        k = 0
        while w:
            if w & 1:
                slots.add(k)
            w >>= 1
            k += 1
    hangs: dict[int, int] = {}
    for k in sorted(slots):
        bit = 1 << k
        blocked = {i for i, w in ex.waiting.items() if w & bit}
        can_move = bytearray(n)
        queue = [i for i in range(n) if i not in blocked]
        for i in queue:
            can_move[i] = 1
        while queue:
            j = queue.pop()
            for q in range(count[j], count[j + 1]):
                p = preds[q]
                if not can_move[p]:
                    can_move[p] = 1
                    queue.append(p)
        stuck = [i for i in blocked if not can_move[i]]
        if stuck:
            hangs[k] = min(stuck)
    return hangs


def _find_hangs_reduced(ex: Exploration) -> dict[int, int]:
    """:func:`find_hangs` on a symmetry-reduced graph, over (state, thread) pairs.

    Thread ``k`` of a state is thread ``perm[k]`` of the representative an edge leads to
    (``perm`` is the edge's slot permutation), so "thread k can move again" is propagated
    backwards along edges from pair to pair. Only blocked pairs are ever stored.
    """
    n = len(ex.states)
    src, dst, eperm = ex.edges_src, ex.edges_dst, ex.edges_perm
    perms = ex.slot_perms
    inv = []
    for p in perms:
        q = [0] * len(p)
        for k, k2 in enumerate(p):
            q[k2] = k
        inv.append(q)
    first = csr_offsets(src, n)  # edges are stored in source order
    count = csr_offsets(dst, n)  # reverse adjacency (CSR)
    pos = array("I", count)
    preds = array("I", bytes(4 * len(dst)))
    for e, d in enumerate(dst):
        preds[pos[d]] = e
        pos[d] += 1
    waiting = ex.waiting
    moves: set[tuple[int, int]] = set()
    queue: list[tuple[int, int]] = []
    for i, w in waiting.items():
        k = 0
        while w >> k:
            if w >> k & 1:
                for e in range(first[i], first[i + 1]):
                    if not waiting.get(dst[e], 0) >> perms[eperm[e]][k] & 1:
                        moves.add((i, k))
                        queue.append((i, k))
                        break
            k += 1
    while queue:
        j, k2 = queue.pop()
        for q in range(count[j], count[j + 1]):
            e = preds[q]
            p, k = src[e], inv[eperm[e]][k2]
            if waiting.get(p, 0) >> k & 1 and (p, k) not in moves:
                moves.add((p, k))
                queue.append((p, k))
    hangs: dict[int, int] = {}
    for i in sorted(waiting):
        w, k = waiting[i], 0
        while w >> k:
            if w >> k & 1 and (i, k) not in moves and k not in hangs:
                hangs[k] = i
            k += 1
    return hangs


def check(
    ts: TransitionSystem,
    limits: Limits | None = None,
    progress: Callable[[dict], None] | None = None,
    hangs: bool = True,
    exploration: Exploration | None = None,
    symmetry: str = "off",
    explorer: Callable[..., Exploration] | None = None,
) -> tuple[CheckResult, Exploration]:
    """Decide every property of ``ts`` (and hang freedom) by exhaustive exploration.

    ``exploration``, when given, is used instead of exploring here (for example one made by
    several processes, ``parallel.explore_parallel``); it must have kept its edges for hangs.
    ``explorer``, when given, explores instead of :func:`explore` (same arguments).
    ``symmetry``: ``auto`` reduces by the instances of replicated drivers where that is sound
    for every safety property (``stats["symmetry"]`` says what was done, or why not);
    ``off`` does not.
    """
    sym_note: dict | None = None
    sym = None
    if symmetry == "auto" and exploration is None:
        sym, why = analyse_symmetry(ts)
        if sym is None and why != "no replicated driver":
            sym_note = {"used": False, "reason": why}
    if exploration is not None:
        ex = exploration
        sym = ex.symmetry
    else:
        ex = (explorer or explore)(
            ts, limits, keep_edges=hangs, progress=progress, symmetry=sym
        )
    results: list[PropertyResult] = []
    stats = {
        "states": len(ex.states),
        "transitions": ex.transitions,
        "depth": ex.max_depth,
        "seconds": round(ex.seconds, 3),
        "complete": ex.complete,
        "interrupted": ex.interrupted,
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    if sym is not None:
        sym_note = {
            "used": True,
            "groups": {g.driver: len(g.instances) for g in sym.groups},
            "orbits": len(ex.states),
        }
    if sym_note is not None:
        stats["symmetry"] = sym_note
    cover = EXHAUSTIVE if ex.complete else PARTIAL
    for pi, p in enumerate(ts.properties):
        j = ex.found.get(pi)
        if p.kind == INVARIANT:
            if j is not None:
                r = PropertyResult(p.name, VIOLATED, "explicit", cover, trace=ex.trace_to(j))
            elif ex.complete:
                r = PropertyResult(p.name, HOLDS, "explicit", EXHAUSTIVE)
            else:
                r = PropertyResult(p.name, UNKNOWN, "explicit", PARTIAL, reason=ex.stop_reason)
        else:
            if j is not None:
                r = PropertyResult(p.name, WITNESSED, "explicit", cover, trace=ex.trace_to(j))
            elif ex.complete:
                r = PropertyResult(p.name, UNREACHABLE, "explicit", EXHAUSTIVE)
            else:
                r = PropertyResult(p.name, UNKNOWN, "explicit", PARTIAL, reason=ex.stop_reason)
        results.append(r)
    if hangs:
        found = find_hangs(ex) if ex.complete else {}
        if found:
            first = min(found.values())
            stuck = sorted(k for k, j in found.items() if j == first)
            prefix = ex.trace_to(first)
            if ex.symmetry is not None:  # the threads of the representative, in the real run
                m = ex.symmetry.canon_map(ex.compiled.layout.pack(prefix.states[-1]))[1]
                perm = ex.symmetry.slot_perm(m)
                stuck = sorted(k for k in range(len(perm)) if perm[k] in stuck)
            r = PropertyResult(
                HANG, VIOLATED, "explicit", EXHAUSTIVE, trace=_extend_to_dead_end(ex, first, prefix)
            )
            r.stats["blocked_slots"] = stuck
            r.stats["blocked_from"] = len(prefix)
            results.append(r)
        elif ex.complete:
            results.append(PropertyResult(HANG, HOLDS, "explicit", EXHAUSTIVE))
        else:
            results.append(
                PropertyResult(
                    HANG,
                    UNKNOWN,
                    "explicit",
                    PARTIAL,
                    reason=ex.stop_reason + " (hangs need the whole graph)",
                )
            )
    return CheckResult(results, "explicit", stats), ex


def _extend_to_dead_end(ex: Exploration, j: int, prefix: Trace) -> Trace:
    """``prefix`` continued by a shortest path from state ``j`` to a state with no successor.

    From ``j`` on the blocked routine can never move again; running on to where nothing at all
    can happen shows the reader why (for example the detach that returned STATUS_PENDING). When
    other threads keep running forever, the prefix is returned unchanged.
    """
    src, dst, act = ex.edges_src, ex.edges_dst, ex.edges_act
    if src is None:
        return prefix
    first_edge: dict[int, int] = {}
    for e in range(len(src) - 1, -1, -1):
        first_edge[src[e]] = e
    back: dict[int, tuple[int, int]] = {j: (-1, -1)}
    queue = [j]
    end = -1
    for node in queue:
        e = first_edge.get(node)
        if e is None:
            end = node
            break
        while e < len(src) and src[e] == node:
            t = dst[e]
            if t not in back:
                back[t] = (node, act[e])
                queue.append(t)
            e += 1
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
