"""Breadth-first exploration on several processes of one machine (``--workers N``).

Each of ``N`` worker processes (forked, so each inherits the compiled successor functions)
owns the states that hash to it: its seen set, its part of the frontier. The search goes
level by level. A worker expands its frontier states and hands each successor to its owner
(directly when it owns it, else in batches of ints through a pipe); the owner keeps, for each
state new at this level, the smallest key ``(number of the parent, position of the successor
in the parent's successor list)``. At the end of a level the workers exchange their sorted
new keys and all number the new states alike, in key order (the coordinator takes no part
until the end, when it gathers the parts).

That order is exactly the order in which the sequential search (:func:`search.explore`) first
meets the states, and the smallest key names the parent and action it records, so the
exploration is the same index for index: the same states, parents, actions, edges (in the
same order), depths and first found states. Verdicts, shortest traces and hangs are therefore
identical to one process, byte for byte, whatever the timing. A state limit cuts the last
level where the sequential search would have stopped.

Workers ignore Ctrl-C: the first Ctrl-C asks them to end the level (the exploration is then
partial and ``interrupted``), a second one stops at once. Workers are terminated on every
exit path, and die with the coordinator.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import resource
import signal
import threading
import time
import traceback
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from multiprocessing import connection as mpc

from nmrcheck.engines.explicit.codegen import Compiled, compile_expander, compile_system
from nmrcheck.engines.explicit.search import Exploration, Limits, explore, peak_memory_mb
from nmrcheck.engines.explicit.symmetry import Symmetry
from nmrcheck.errors import InternalError
from nmrcheck.ir import TransitionSystem

_PRIME = 1_000_003  # state % _PRIME % workers: the owner (mixes every bit of the packed state)
_BATCH = 3 * 8192  # ints per message between workers: 3 per successor (state, key, action)
_CHUNK = 256  # states expanded between looks at the clock, the stop flag and the inbox
# per worker: expanded and new this level, transitions, states numbered, level, frontier size,
# growth in MiB
_NCOUNT = 7


@dataclass
class ParallelExploration(Exploration):
    """An :class:`Exploration` made by several processes (the same one, index for index)."""

    workers: int = 1
    memory_mb: float = 0.0  # coordinator peak plus each worker's growth since it started


@dataclass
class _Setup:
    """What every worker inherits through fork."""

    workers: int
    comp: Compiled
    s0: int
    nact: int
    keep_edges: bool
    canonical: Callable[[int], int] | None
    # symmetry: the representative of a successor t of s from the instance keys of s
    parent_keys: Callable[[int], object] | None
    canon_next: Callable[[int, int, object], int] | None
    canon_map: Callable[[int, int, object], tuple[int, object]] | None  # with edges
    # without edges: codegen.compile_expander(..., worker=True), and what its slow path needs
    expander: Callable | None
    slow: dict
    deadline: float | None
    max_states: int | None
    max_memory_mb: int | None
    coord_mb: float  # the coordinator's peak memory when the workers started
    skip0: int  # the properties found in the initial state
    stop: object  # multiprocessing RawValue: 1 once Ctrl-C was pressed
    counters: object  # RawArray: per worker, _NCOUNT figures for the progress display
    to_worker: list  # coordinator <-> worker connections, worker side
    to_coord: list  # coordinator side
    outbox: list  # outbox[v][w]: v sends to w
    inbox: list  # inbox[w][v]: w receives from v


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies (best effort)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(me: int, setup: _Setup) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    conn = setup.to_worker[me]
    for w in range(setup.workers):  # keep only this worker's ends, so a death is an EOF
        setup.to_coord[w].close()
        if w != me:
            setup.to_worker[w].close()
        for v in range(setup.workers):
            if v == w:
                continue
            if v != me:
                setup.outbox[v][w].close()
            if w != me:
                setup.inbox[w][v].close()
    try:
        _Worker(me, setup, conn).run()
    except BaseException:  # noqa: BLE001 - reported to the coordinator, which raises
        try:
            conn.send(("error", traceback.format_exc()))
        except (OSError, ValueError):
            pass


class _Worker:
    """One process: its states, its frontier, its edges."""

    def __init__(self, me: int, setup: _Setup, conn) -> None:
        self.me, self.setup, self.conn = me, setup, conn
        self.W = setup.workers
        self.base_rss = _rss_mb()
        self.index: dict[int, int] = {}
        self.states: list[int] = []
        self.key = array("q")  # smallest (parent number * nact + position) seen, per state
        self.via = array("i")
        self.gid = array("q")  # global number, per local state
        self.frontier: list[int] = []  # local states of the current level, in number order
        self.new: list[int] = []
        self.deg = array("I")  # successors of each expanded frontier state
        self.waiting: dict[int, int] = {}
        self.ekey = array("q")  # edges: key of the source, action, local destination
        self.eact = array("i")
        self.edst = array("q")
        self.exp_gid = array("q")  # with edges: every expanded state and its out-degree
        self.exp_deg = array("I")
        self.pkey = array("q")  # symmetry with edges: key and permutation of the edges that
        self.pperm = array("I")  # this worker made and whose successor was permuted
        self.perm_list: list = [None]
        self.perm_id: dict = {None: 0}
        s0 = setup.s0
        if self._owner(s0) == me:
            self.index[s0] = 0
            self.states.append(s0)
            self.key.append(-1)
            self.via.append(-1)
            self.gid.append(0)
            self.frontier = [0]
        self.sendq: queue.SimpleQueue = queue.SimpleQueue()
        self.sender = threading.Thread(target=self._send_loop, daemon=True)
        self.sender.start()

    def _owner(self, t: int) -> int:
        return t % _PRIME % self.W

    def _send_loop(self) -> None:
        out = self.setup.outbox[self.me]
        while True:
            item = self.sendq.get()
            if item is None:
                return
            w, payload = item
            out[w].send(payload)

    def run(self) -> None:
        """Level after level: expand, exchange the new keys with every other worker (each
        worker then numbers the same way, no coordinator in between), number; at the end,
        send everything to the coordinator."""
        st, W, me, nact = self.setup, self.W, self.me, self.setup.nact
        inbox = st.inbox[me]
        cnt, cb = st.counters, _NCOUNT * me
        numbered, level, depth, transitions = 1, 0, 0, 0
        skip = st.skip0
        found: dict[int, int] = {}
        growth = [0.0] * W
        stops: set[str] = set()
        limit_hit = False
        cut = -1  # with a state limit: the key of the first state left out
        last_kept = 1  # states in the frontier
        while True:
            allow = None
            if st.max_memory_mb is not None:
                allow = st.max_memory_mb - st.coord_mb - (sum(growth) - growth[me])
            self.begin_level()
            trans, stopped, grown = 0, "", 0.0
            for upto in self._rounds(numbered, last_kept):
                t, stopped, grown = self.expand(allow, transitions + trans, upto)
                trans += t
                if upto is None:
                    break
                # near a state limit: stop expanding once the limit falls among the states
                # met so far (their keys, below ``upto``, can no longer change)
                found_so_far = len(self.states) - self.lvl0
                for o in range(W):
                    if o != me:
                        self.sendq.put((o, (found_so_far, stopped)))
                for v in range(W):
                    if v != me:
                        n_v, stopped_v = inbox[v].recv()
                        found_so_far += n_v
                        stopped = stopped or stopped_v
                if stopped or numbered + found_so_far > st.max_states:
                    break
            keys = self.end_level()
            # every worker learns every worker's new keys, stop reasons, growth and finds
            for o in range(W):
                if o != me:
                    self.sendq.put((o, (keys, stopped, grown, skip)))
            all_keys: list[list[int]] = [keys] * W
            growth[me] = grown
            if stopped:
                stops.add(stopped)
            for v in range(W):
                if v != me:
                    all_keys[v], stopped_v, growth[v], skip_v = inbox[v].recv()
                    skip |= skip_v
                    if stopped_v:
                        stops.add(stopped_v)
            level_new = sum(len(k) for k in all_keys)
            if level_new == 0:
                transitions += trans
                break
            if W > 1:
                tagged: list[int] = []
                for v, ks in enumerate(all_keys):
                    tagged += [k * W + v for k in ks]
                tagged.sort()
                pos: Sequence[int] = [i for i, x in enumerate(tagged) if x % W == me]
            else:
                tagged, pos = keys, range(len(keys))
            limit = None
            if st.max_states is not None and numbered + level_new > st.max_states:
                # the sequential search stops at the first new state past the limit, in
                # the middle of expanding its parent p: count the successors up to p
                limit = st.max_states
                first_out = tagged[limit - numbered]
                cut = first_out // W if W > 1 else first_out
                p = cut // nact
                gid = self.gid
                trans = sum(d for x, d in zip(self.frontier, self.deg) if gid[x] <= p)
                limit_hit = True
            transitions += trans
            skip = self.number(numbered, pos, limit, skip, found)
            kept = level_new if limit is None else limit - numbered
            numbered += kept
            last_kept = kept
            level += 1
            if kept:
                depth = level
            cnt[cb + 2], cnt[cb + 3], cnt[cb + 4] = transitions, numbered, level
            if limit_hit or stops:
                break
        self.conn.send(("done", found, transitions, numbered, depth, sorted(stops),
                        cut, growth[me]) + self.gather())
        self.conn.recv()  # "quit"
        self.sendq.put(None)

    def _rounds(self, numbered: int, frontier: int) -> list[int | None]:
        """The number bounds of the parts in which to expand the frontier: one part, or
        eight when the state limit may fall in this level (the same for every worker)."""
        limit = self.setup.max_states
        if limit is None or numbered + 8 * frontier <= limit or frontier < 64:
            return [None]
        lo, step = numbered - frontier, -(-frontier // 8)
        return [lo + step * (i + 1) for i in range(7)] + [None]

    def begin_level(self) -> None:
        self.lvl0 = len(self.states)
        self.deg = array("I")  # successors of each expanded frontier state
        self.fpos = 0  # frontier states expanded so far
        self.sent: set[int] = set()
        self.setup.counters[_NCOUNT * self.me + 5] = len(self.frontier)

    def expand(self, mem_allow: float | None, trans0: int, upto: int | None) -> tuple:
        """Expand the frontier states numbered below ``upto`` (all when None) not expanded
        yet and exchange their successors with the other workers; return the successors
        counted, why it stopped early ("" if it did not) and how much this process has grown
        (MiB)."""
        st = self.setup
        me, W, nact, keep_edges = self.me, self.W, st.nact, st.keep_edges
        succ, busy, canon = st.comp.successors, st.comp.busy, st.canonical
        parent_keys, canon_next, canon_map = st.parent_keys, st.canon_next, st.canon_map
        perm_id, perm_list = self.perm_id, self.perm_list
        pk_append, pp_append = self.pkey.append, self.pperm.append
        index, states, key, via = self.index, self.states, self.key, self.via
        index_get, states_append = index.get, states.append
        key_append, via_append = key.append, via.append
        ek_append, ea_append, ed_append = self.ekey.append, self.eact.append, self.edst.append
        gid, waiting, frontier = self.gid, self.waiting, self.frontier
        lvl0, deg, fpos = self.lvl0, self.deg, self.fpos
        deg_append = deg.append
        bufs: list[list[int]] = [[] for _ in range(W)]
        sendq = self.sendq
        inbox = [c for v, c in enumerate(st.inbox[me]) if v != me]
        open_in = list(inbox)
        counters, cbase = st.counters, _NCOUNT * me
        stop_flag, deadline = st.stop, st.deadline
        sent = self.sent
        sent_add = sent.add

        def keep(t: int, k: int, a: int) -> int:
            """The index of owned state ``t``, stored if new; a smaller key at this level
            (``k``, action ``a``) replaces the one it had."""
            x = index_get(t)
            if x is None:
                x = len(states)
                index[t] = x
                states_append(t)
                key_append(k)
                via_append(a)
            elif x >= lvl0 and k < key[x]:
                key[x] = k
                via[x] = a
            return x

        def absorb(b: list[int]) -> None:
            it = iter(b)
            for t, k, a in zip(it, it, it):
                x = keep(t, k, a)
                if keep_edges:
                    ek_append(k)
                    ea_append(a)
                    ed_append(x)

        def drain(block: bool) -> None:
            while open_in:
                ready = mpc.wait(open_in, None if block else 0)
                if not ready:
                    return
                for c in ready:
                    b = c.recv()
                    if b is None:
                        open_in.remove(c)
                    else:
                        absorb(b)

        def look(done: int, trans: int) -> str:
            """Every _CHUNK states: the progress counters, the reasons to stop (returned),
            the inbox."""
            grown = _rss_mb() - self.base_rss
            counters[cbase] = done
            counters[cbase + 1] = len(states) - lvl0
            counters[cbase + 2] = trans0 + trans
            counters[cbase + 6] = int(grown)
            if stop_flag.value:
                return "interrupted"
            if deadline is not None and time.monotonic() > deadline:
                return "time"
            if mem_allow is not None and grown > mem_allow:
                return "memory"
            drain(False)
            return ""

        stopped = ""
        trans = 0
        done = fpos

        def w(t: int, a: int, k: int) -> None:
            """Successor ``t`` (action ``a``, key ``k``) without edges: kept or sent."""
            o = t % _PRIME % W
            if o == me:
                keep(t, k, a)
            elif t not in sent:  # its first copy has the smallest key we can give
                sent_add(t)
                b = bufs[o]
                b += (t, k, a)
                if len(b) >= _BATCH:
                    sendq.put((o, b))
                    bufs[o] = []

        if st.expander is not None:
            def slow(s: int, k: int) -> int:
                out = succ(s)[0]
                keys = parent_keys(s) if parent_keys is not None else None
                for pos, (a, t) in enumerate(out):
                    w(canon_next(t, s, keys) if canon_next is not None else t, a, k + pos)
                return len(out)

            st.slow["f"] = slow
            expand, top = st.expander, len(frontier)
            bound = (1 << 62) if upto is None else upto
            while done < top:
                stopped = look(done, trans)
                if stopped:
                    break
                end = min(top, (done | (_CHUNK - 1)) + 1)
                n, f = expand(frontier, done, end, states, gid, nact, bound, w, deg_append)
                trans += n
                done = f
                if f < end:  # the state numbered upto: this part ends here
                    break
        general = frontier[fpos:] if st.expander is None else ()  # with edges
        for j in general:
            if upto is not None and gid[j] >= upto:
                break
            if not done & (_CHUNK - 1):
                stopped = look(done, trans)
                if stopped:
                    break
            s = states[j]
            out, en = succ(s)
            if en >= 0 and st.keep_edges:  # -1: halted, neither expanded nor a hang
                wm = busy(s) & ~en
                if wm:
                    waiting[gid[j]] = wm
            n_out = len(out)
            deg_append(n_out)
            trans += n_out
            done += 1
            k0 = gid[j] * nact
            if canon_map is not None:  # symmetry, with edges: note each edge's permutation
                keys = parent_keys(s)
                mapped = []
                for k, (a, t) in enumerate(out, k0):
                    t, m = canon_map(t, s, keys)
                    if m is not None:
                        pid = perm_id.get(m)
                        if pid is None:
                            pid = perm_id[m] = len(perm_list)
                            perm_list.append(m)
                        pk_append(k)
                        pp_append(pid)
                    mapped.append((a, t))
                out = mapped
            elif canon_next is not None:  # symmetry
                keys = parent_keys(s)
                out = [(a, canon_next(t, s, keys)) for a, t in out]
            elif canon is not None:
                out = [(a, canon(t)) for a, t in out]
            if keep_edges:
                for k, (a, t) in enumerate(out, k0):
                    o = t % _PRIME % W
                    if o == me:
                        x = keep(t, k, a)
                        ek_append(k)
                        ea_append(a)
                        ed_append(x)
                    else:
                        b = bufs[o]
                        b += (t, k, a)
                        if len(b) >= _BATCH:
                            sendq.put((o, b))
                            bufs[o] = []
            else:  # the same without edges: a worker sends a state at most once a level
                for k, (a, t) in enumerate(out, k0):
                    w(t, a, k)
        for o in range(W):
            if o != me:
                if bufs[o]:
                    sendq.put((o, bufs[o]))
                sendq.put((o, None))  # end of this level
        drain(True)
        self.fpos = done
        return trans, stopped, _rss_mb() - self.base_rss

    def end_level(self) -> list[int]:
        """The keys of the states new at this level, sorted."""
        gid, key = self.gid, self.key
        if self.setup.keep_edges:
            self.exp_gid.extend(gid[x] for x in self.frontier[: self.fpos])
            self.exp_deg.extend(self.deg)
        new = sorted(range(self.lvl0, len(self.states)), key=key.__getitem__)
        self.new = new
        gid.frombytes(b"\xff" * (8 * len(new)))  # -1 until numbered
        cnt = self.setup.counters
        cnt[_NCOUNT * self.me] = cnt[_NCOUNT * self.me + 1] = 0
        return [key[x] for x in new]

    def number(
        self, base: int, pos: Sequence[int], limit: int | None, skip: int, found: dict
    ) -> int:
        """Number the new states (``pos``: the place of each among all new ones); record in
        ``found`` the properties first found in the states kept; return the new skip mask."""
        gid, new = self.gid, self.new
        kept = []
        for x, i in zip(new, pos):
            g = base + i
            gid[x] = g
            if limit is None or g < limit:
                kept.append(x)
        found_in, states = self.setup.comp.found, self.states
        for x in kept:
            m = found_in(states[x], skip)
            if m:
                skip |= m
                pi = 0
                while m:
                    if m & 1:
                        found[pi] = gid[x]
                    m >>= 1
                    pi += 1
        self.frontier = kept
        self.new = []
        return skip

    def gather(self) -> tuple:
        """Everything the coordinator needs to build the exploration."""
        gid = self.gid
        edges = None
        if self.setup.keep_edges:
            edst = array("q", [gid[x] for x in self.edst])
            edges = (self.ekey, self.eact, edst, self.exp_gid, self.exp_deg, self.pkey,
                     self.pperm, self.perm_list)
        return gid, self.states, self.key, self.via, self.waiting, edges


class _Interrupts:
    """The first Ctrl-C sets the shared stop flag; the second raises KeyboardInterrupt."""

    def __init__(self, flag) -> None:
        self.flag = flag
        self.previous = None
        self.installed = False

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
            self.installed = True
        return self

    def _handle(self, signum, frame) -> None:
        if self.flag.value:
            raise KeyboardInterrupt
        self.flag.value = 1

    def __exit__(self, *exc) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous)


def explore_parallel(
    ts: TransitionSystem,
    limits: Limits | None = None,
    workers: int = 2,
    keep_edges: bool = True,
    progress: Callable[[dict], None] | None = None,
    canonical: Callable[[int], int] | None = None,
    symmetry: Symmetry | None = None,
    reduce: Callable | None = None,
) -> Exploration:
    """Explore every reachable state of ``ts`` breadth first on ``workers`` processes.

    Parameters
    ----------
    ts : TransitionSystem
    limits : Limits, optional
        State, time and memory budget (memory: the coordinator's peak plus what each worker
        has grown since it started); when one is reached, ``complete`` is False.
    workers : int
        Worker processes; 1 without ``canonical`` is the sequential :func:`search.explore`.
    keep_edges : bool
        Keep every transition (needed for hang detection and the graph).
    progress : callable, optional
        Called about once a second with a dict of figures.
    canonical : callable, optional
        Maps each state (initial state and successors) to the representative stored for it,
        before its owner is chosen (a hook for a reduction).
    symmetry : Symmetry, optional
        Store one state per orbit, as :func:`search.explore` does (its ``canon``, and with
        edges its ``canon_map``, so that hangs are found on the reduced graph).
    reduce : callable, optional
        A partial-order reduction (``por``): it needs the seen set of one process, so the
        search then runs on one process, as :func:`search.explore`.

    Returns
    -------
    Exploration
        The same exploration as :func:`search.explore`, index for index (a
        :class:`ParallelExploration`, which also says how many workers ran).
    """
    limits = limits or Limits()
    if reduce is not None:
        kw = {"symmetry": symmetry, "reduce": reduce}
        return explore(ts, limits, keep_edges=keep_edges, progress=progress, **kw)
    if (workers <= 1 and canonical is None) or "fork" not in mp.get_all_start_methods():
        # one process (workers inherit the compiled functions through fork: no fork, no workers)
        return explore(ts, limits, keep_edges=keep_edges, progress=progress, symmetry=symmetry)
    if symmetry is not None:
        if canonical is not None:
            raise ValueError("give canonical or symmetry, not both")
        canonical = symmetry.canon
    return _Coordinator(ts, limits, workers, keep_edges, progress, canonical, symmetry).run()


class _Coordinator:
    def __init__(
        self, ts, limits: Limits, workers: int, keep_edges: bool, progress, canonical, symmetry
    ):
        self.ts, self.limits, self.W = ts, limits, workers
        self.keep_edges, self.progress, self.canonical = keep_edges, progress, canonical
        self.symmetry = symmetry
        self.procs: list = []
        self.conns: list = []
        self.next_tick = 0.0

    def _expander(self, comp: Compiled, sym: Symmetry | None) -> tuple[Callable | None, dict]:
        """The generated expansion loop of the workers (without edges, and with symmetry
        reduction only through ``symmetry``), compiled once before they fork."""
        if self.keep_edges or (self.canonical is not None and sym is None):
            return None, {}
        slow: dict = {}  # set by each worker: its own slow path
        canon_of, names, prelude = None, {}, []
        if sym is not None:
            canon_of, names, prelude = sym.stepper(self.ts)
        names["slow"] = lambda s, k: slow["f"](s, k)
        expand = compile_expander(self.ts, canon_of, names, prelude, worker=True)[0]
        return expand, slow

    def run(self) -> ParallelExploration:
        ts, limits, W = self.ts, self.limits, self.W
        start = self.start = time.monotonic()
        comp = compile_system(ts)
        initial = comp.layout.pack(ts.initial_state())
        s0 = self.canonical(initial) if self.canonical is not None else initial
        skip0 = comp.found(s0, 0)
        sym = self.symmetry
        nact = max(1, len(ts.actions))
        ctx = mp.get_context("fork")
        stop = ctx.RawValue("b", 0)
        self.counters = ctx.RawArray("q", _NCOUNT * W)
        pairs = [ctx.Pipe(duplex=True) for _ in range(W)]
        mesh = [[ctx.Pipe(duplex=False) if v != w else (None, None) for w in range(W)]
                for v in range(W)]
        setup = _Setup(
            W,
            comp,
            s0,
            nact,
            self.keep_edges,
            self.canonical,
            sym.parent_keys if sym is not None else None,
            sym.canon_next if sym is not None else None,
            sym.canon_map_next if sym is not None and self.keep_edges else None,
            *self._expander(comp, sym),
            start + limits.timeout if limits.timeout is not None else None,
            limits.max_states,
            limits.max_memory_mb,
            peak_memory_mb(),
            skip0,
            stop,
            self.counters,
            [p[1] for p in pairs],
            [p[0] for p in pairs],
            [[mesh[v][w][1] for w in range(W)] for v in range(W)],
            [[mesh[v][w][0] for v in range(W)] for w in range(W)],
        )
        self.conns = setup.to_coord
        try:
            with _Interrupts(stop):
                for w in range(W):
                    p = ctx.Process(
                        target=_worker_main, args=(w, setup), name=f"nmrcheck-worker-{w}"
                    )
                    p.daemon = True
                    p.start()
                    self.procs.append(p)
                for c in setup.to_worker:
                    c.close()
                for v in range(W):
                    for w in range(W):
                        if v != w:
                            mesh[v][w][0].close()
                            mesh[v][w][1].close()
                self.next_tick = start + 1.0
                parts = self._collect()
                return self._assemble(comp, initial, nact, skip0, parts)
        finally:
            self._shutdown()

    def _reason(self, stops: set[str], limit_hit: bool) -> tuple[bool, str, bool]:
        """(complete, why not, interrupted) from what the workers reported."""
        if "interrupted" in stops:
            return False, "interrupted (Ctrl-C)", True
        if limit_hit:
            return False, f"state limit {self.limits.max_states} reached", False
        if "memory" in stops:
            return False, f"memory limit {self.limits.max_memory_mb} MiB reached", False
        if "time" in stops:
            return False, f"time limit {self.limits.timeout:g} s reached", False
        return True, "", False

    def _collect(self) -> list:
        """The final report of every worker, in worker order; progress while waiting. A worker
        that failed is an internal error (its own report, not the others' lost peer)."""
        got: list = [None] * self.W
        pending = {c: w for w, c in enumerate(self.conns)}
        errors: list[str] = []
        while pending:
            wait = None
            if self.progress is not None:
                wait = max(0.0, self.next_tick - time.monotonic())
            if errors:
                wait = 2.0 if wait is None else min(wait, 2.0)
            ready = mpc.wait(list(pending), wait)
            if errors and not ready:
                break
            for c in ready:
                w = pending.pop(c)
                try:
                    msg = c.recv()
                except EOFError:
                    self.procs[w].join(1.0)
                    code = self.procs[w].exitcode
                    errors.append(
                        f"worker process {w} exited unexpectedly (exit code {code}"
                        f"{': killed, perhaps out of memory' if code == -9 else ''})"
                    )
                    continue
                if msg[0] == "error":
                    errors.append(f"worker process {w} failed:\n{msg[1]}")
                got[w] = msg
            if self.progress is not None and time.monotonic() >= self.next_tick:
                self._tick()
        if errors:
            first = next((e for e in errors if "EOFError" not in e), errors[0])
            raise InternalError(first)
        return got

    def _tick(self) -> None:
        now = time.monotonic()
        self.next_tick = now + 1.0
        cnt, W = self.counters, self.W
        fig = [[cnt[_NCOUNT * w + i] for i in range(_NCOUNT)] for w in range(W)]
        expanded = sum(f[0] for f in fig)
        new = sum(f[1] for f in fig)
        self.progress(
            {
                "states": max(f[3] for f in fig) + new,
                "transitions": sum(f[2] for f in fig),
                "depth": max(f[4] for f in fig),
                "queue": sum(f[5] for f in fig) - expanded + new,
                "seconds": now - self.start,
                "memory_mb": _rss_mb() + sum(f[6] for f in fig),
                "workers": W,
            }
        )

    def _assemble(self, comp, initial, nact, skip0, parts) -> ParallelExploration:
        """Gather the workers' parts into one exploration in global (BFS) order."""
        found = {pi: 0 for pi in range(skip0.bit_length()) if skip0 >> pi & 1}
        for part in parts:
            for pi, g in part[1].items():
                if pi not in found or g < found[pi]:
                    found[pi] = g
        transitions = sum(part[2] for part in parts)
        n, depth = parts[0][3], parts[0][4]
        stops = {r for part in parts for r in part[5]}
        cut = parts[0][6]
        complete, reason, interrupted = self._reason(stops, cut >= 0)
        growth = sum(part[7] for part in parts)
        data = [part[8:] for part in parts]
        states: list[int] = [0] * n
        parent = array("i", bytes(4 * n))
        via = array("i", bytes(4 * n))
        waiting: dict[int, int] = {}
        for gids, sts, keys, vias, wt, _e in data:
            for g, s, k, a in zip(gids, sts, keys, vias):
                if g < n:
                    states[g] = s
                    parent[g] = k // nact if k >= 0 else -1
                    via[g] = a
            waiting.update(wt)
        src = dst = act = eperm = None
        slot_perms: list[tuple[int, ...]] = [tuple(range(len(self.ts.slots)))]
        if self.keep_edges:
            src, dst, act, eperm = self._edges(data, n, nact, slot_perms, cut)
        if cut >= 0:  # as one process: it stopped while expanding the parent of the cut
            waiting = {g: w for g, w in waiting.items() if g <= cut // nact}
        return ParallelExploration(
            compiled=comp,
            states=states,
            parent=parent,
            via=via,
            edges_src=src,
            edges_dst=dst,
            edges_act=act,
            waiting=waiting,
            complete=complete,
            stop_reason=reason,
            interrupted=interrupted,
            transitions=transitions,
            max_depth=depth,
            seconds=time.monotonic() - self.start,
            found=found,
            symmetry=self.symmetry,
            initial=initial,
            edges_perm=eperm,
            slot_perms=slot_perms,
            workers=self.W,
            memory_mb=peak_memory_mb() + growth,
        )

    def _edges(
        self, parts: list, n: int, nact: int, slot_perms: list, cut: int
    ) -> tuple[array, array, array, array | None]:
        """Every edge in the sequential order: by source number, then successor position (up
        to the key ``cut`` of the first state a limit left out, if it is not -1); under
        symmetry, the permutation of each edge, numbered in edge order as there."""
        below = cut if cut >= 0 else 1 << 62
        deg = array("I", bytes(4 * n))
        for *_, edges in parts:
            for g, d in zip(edges[3], edges[4]):
                if g < n:
                    deg[g] = d
        off = array("q", accumulate(deg, initial=0))
        total = off[n] if cut < 0 else off[cut // nact] + cut % nact
        hole = 0xFFFFFFFF
        src = array("I", bytes(4 * total))
        dst = array("I", [hole]) * total
        act = array("I", bytes(4 * total))
        for *_, edges in parts:
            for k, a, d in zip(edges[0], edges[1], edges[2]):
                g, pos = divmod(k, nact)
                if d < n and k < below:
                    e = off[g] + pos
                    src[e] = g
                    dst[e] = d
                    act[e] = a
        eperm = None
        if self.symmetry is not None:
            eperm = array("H", bytes(2 * total))
            code: dict[int, object] = {}  # edge -> its mapping, where not the identity
            for *_, edges in parts:
                plist = edges[7]
                for k, pid in zip(edges[5], edges[6]):
                    g, pos = divmod(k, nact)
                    if k <= below:  # one process numbers the mapping at the cut too
                        code[off[g] + pos] = plist[pid]
            perm_id: dict = {None: 0}
            for e in sorted(code):
                m = code[e]
                pid = perm_id.get(m)
                if pid is None:
                    pid = perm_id[m] = len(slot_perms)
                    slot_perms.append(self.symmetry.slot_perm(m))
                if e < total:
                    eperm[e] = pid
        if hole in dst:  # (not expected) drop the edges to states not kept
            keep = [e for e in range(total) if dst[e] != hole]
            src = array("I", [src[e] for e in keep])
            dst = array("I", [dst[e] for e in keep])
            act = array("I", [act[e] for e in keep])
            if eperm is not None:
                eperm = array("H", [eperm[e] for e in keep])
        return src, dst, act, eperm

    def _shutdown(self) -> None:
        """Stop every worker: ask, then terminate, then kill; never leave one behind."""
        for c in self.conns:
            try:
                c.send(("quit",))
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 2.0
        for p in self.procs:
            p.join(max(0.05, deadline - time.monotonic()))
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(1.0)
            if p.is_alive():
                p.kill()
                p.join()
        for c in self.conns:
            c.close()
        self.procs = []
