"""A breadth-first level expanded in two parts at once: the second by a twin process.

A level's states are expanded in index order; a sequential search numbers the new states in
the order it finds them. Here a twin process (:class:`forks.Twin`, forked at the first large
level and kept for the whole search) expands the second part of each large level on its copy
of the store while this process expands the first part. The twin sends back what it
appended (its new states with their parent and action, and, with edges, its rows of edges);
:func:`merge_states` and :class:`EdgeHalf` then store its new states in its order, each one
unless this process found it first, and renumber its edges. The result is the sequential
search's, state for state and edge for edge (the same numbering, parents, edges and order),
so verdicts and traces do not depend on the split. :class:`Split` decides which levels are
split, and where. The twin claims its part a chunk at a time (:class:`forks.Claims`); once
this process has done its own part it merges the twin's answer message by message as it
comes, and in between expands the chunks the twin has not begun, as the twin would (its
answers merged after the twin's).

The twin keeps its copy of the store in step: each request brings the states this process
stored since the last one (the merged level), and once it has answered, the twin drops the
states it added itself. A child forked anew for each level would be simpler, but every page
either process writes after a fork is copied again (a dict lookup writes the reference count
of the key it finds): at 1.7 M states that cost about a third of the second core's gain.
"""

from __future__ import annotations

import marshal
import time
from array import array
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from nmrcheck import control
from nmrcheck.engines.explicit.arrays import from_bytes, renumber_edges, shifted
from nmrcheck.engines.explicit.codegen import Full
from nmrcheck.engines.explicit.forks import Claims, Served, Twin
from nmrcheck.engines.explicit.frames import Frames


class _Store(Protocol):
    """What this module reads and sets of the search's store (``search._Store``)."""

    states: list[int]
    parent: array
    via: array
    index: dict[int, int] | None
    seen: set[int] | None
    found_in: Callable[[int, int], int]
    stop_mask: int
    cap: int

    def new(self, t: int, a: int, i: int, found: int = -1) -> int: ...


MIN_LEVEL = 4096  # smaller levels are expanded in one process
FIRST_SHARE = 0.5  # the twin's part of the first level split
PAUSE = 3  # levels not split after a split that did not pay
CHUNK = 256  # states claimed at a time from the twin's part
BATCH = 2048  # states the twin expands between two messages of its answer
LEAD = 0.1  # the twin's part is this much larger than the speeds say: this process takes
# back the end of it when it finishes first (a chunk the twin has not begun), not the other way


IDLE_BLOCK = 2048  # states of the twin's work between two looks for a request


class Beside(Protocol):
    """Work on the stored states in index order that the twin does while it would wait:
    ``done`` states so far, ``extend(hi)`` does them up to ``hi``, ``dump(hi)`` sends what it
    made of the states up to ``hi``. When the search is complete this process does part of
    what is left: ``part(lo, hi)`` makes that of states ``lo..hi`` (not kept) and
    ``joined(dump, parts)`` puts the twin's and these parts together."""

    @property
    def done(self) -> int: ...

    def extend(self, hi: int) -> None: ...

    def dump(self, hi: int | None = None) -> bytes: ...

    def part(self, lo: int, hi: int) -> Any: ...

    def joined(self, data: memoryview, parts: list[Any]) -> Any: ...


class Part(Served, Protocol):
    """One loop's split of a level: this process's side (``fork`` just before the twin is
    forked, ``ask`` for the twin's part ``mid..hi``, ``side`` to expand states ``lo..hi``
    taken back from it, as the twin would, and ``merge`` a message of either: it returns
    what it counted, a stop's cut (or -1) and whether it was the answer's last) and the
    twin's (:class:`forks.Served`, claiming its states from ``claims``)."""

    def fork(self, claims: Claims) -> None: ...

    def ask(self, mid: int, hi: int) -> bytes: ...

    def side(self, lo: int, hi: int) -> bytes: ...

    def merge(self, answer: memoryview | bytes, acc: array) -> tuple[int, int, bool]: ...

    @property
    def gathers(self) -> bool: ...

    def beside_part(self, lo: int, hi: int) -> Any: ...

    def gathered(self, answer: memoryview, mine: list[Any]) -> Any: ...


class Split:
    """The levels of one search: which are split, where, and the twin that expands its part.

    The twin's share of a level follows the two processes' speeds measured on the levels
    before (each level's figures weigh as much as all the earlier ones together: either
    process may share its core with other work), so that both parts end at about the same
    time. While this process waits for the twin, ``meanwhile()`` does what it will need
    later (once: it returns True when done). A split that took a tenth longer than this
    process alone would have (the second core busy with other work) stops the splitting
    for the next :data:`PAUSE` levels; not the twin's first, which is slow while its pages
    are copied. No level is split once this process holds half of ``memory_mb``, and the
    twin then ends (its memory, at most about this process's, is not counted by the memory
    limit, which watches this process)."""

    def __init__(self, on: bool, memory_mb: int | None = None, part: Part | None = None,
                 meanwhile: Callable[[], bool] | None = None) -> None:
        self.on, self.share, self.pause = on and part is not None, FIRST_SHARE, 0
        self.memory_mb, self.part, self.meanwhile = memory_mb, part, meanwhile
        self.twin: Twin | None = None
        self.claims: Claims | None = None
        self._lo = self._end = self._hi = 0
        self._t0 = 0.0
        self._speeds = [0.0, 0.0, 0.0, 0.0]  # states and seconds, this process and the twin

    def begin(self, lo: int, hi: int) -> int:
        """Where this process stops expanding the level ``lo..hi``: its end, or the start of
        the twin's part, which the twin is then asked to expand."""
        if not self.on or hi - lo < MIN_LEVEL:
            return hi
        if self.pause:
            self.pause -= 1
            return hi
        if self.memory_mb is not None and control.resident_mb() > self.memory_mb / 2:
            self.on = False
            self.stop()
            return hi
        assert self.part is not None
        share = min(0.75, self.share + LEAD)
        mid = hi - min(hi - lo - 1, max(1, round((hi - lo) * share)))
        if self.twin is None:
            self.claims = Claims()
            self.part.fork(self.claims)
            self.twin = Twin.start(self.part)
        assert self.claims is not None
        self.claims.reset(mid, hi)
        self.twin.ask(self.part.ask(mid, hi))
        self._lo, self._end, self._hi, self._t0 = lo, mid, hi, time.perf_counter()
        return mid

    def finish(self) -> tuple[int, int]:
        """The twin's part, merged once this process has expanded its own: (what its merges
        counted, the state cut off by a stop or -1). Until the twin's last message, this
        process merges each one that has come, or else expands what the twin has not begun
        of its part, from the end, a chunk at a time (merged last, in order)."""
        mine = time.perf_counter() - self._t0
        twin, part, claims = self.twin, self.part, self.claims
        assert twin is not None and part is not None and claims is not None
        claims.listen()
        sides: list[bytes] = []
        acc = array("Q")  # the index of each of the twin's new states (numpy reads it in place)
        counted, cut, last = 0, -1, False
        while not last and cut < 0:
            if not twin.ready():
                if (got := claims.back(CHUNK)) is not None:
                    sides.append(part.side(*got))
                    continue
                if self.meanwhile is not None and self.meanwhile():
                    self.meanwhile = None
            n, cut, last = part.merge(twin.answer(), acc)
            counted += n
        for answer in reversed(sides):  # in the order of their states
            if cut >= 0:
                break
            n, cut, _ = part.merge(answer, array("Q"))
            counted += n
        self._measure(mine, claims.split())
        return counted, cut

    def _measure(self, mine: float, split: int) -> None:
        """The share of the next level, from this level's speeds (``split``: where the
        twin's states ended)."""
        assert self.twin is not None
        if mine <= 0:
            return
        first = not self._speeds[1]
        sp = self._speeds = [x / 2 for x in self._speeds]
        for k, x in enumerate((self._end - self._lo, mine, split - self._end, self.twin.seconds)):
            sp[k] += x
        rp = sp[0] / sp[1]  # states per second, each process
        rc = sp[2] / sp[3] if sp[3] > 0 else 0.0
        self.share = min(0.75, max(0.25, rc / (rp + rc)))
        took = time.perf_counter() - self._t0
        if not first and took > 1.1 * (self._hi - self._lo) / rp:
            self.pause = PAUSE

    def gather(self, n: int) -> Any:
        """What the work beside made of the ``n`` stored states (the search is complete), or
        None when no twin ran: the twin ends what it has begun from the first state on while
        this process does states from the last one back (:class:`forks.Claims`)."""
        part, twin, claims = self.part, self.twin, self.claims
        if twin is None or part is None or claims is None or not part.gathers:
            return None
        claims.reset(0, n)
        twin.ask(part.ask(-1, -1))
        mine = []
        while (got := claims.back(IDLE_BLOCK)) is not None:
            mine.append(part.beside_part(*got))
        mine.reverse()
        return part.gathered(twin.answer(), mine)

    def stop(self) -> None:
        """End the twin (the search is over, or stops before its part is merged)."""
        if self.twin is not None:
            self.twin.stop()
            self.twin = None
        if self.claims is not None:
            self.claims.close()
            self.claims = None


class _Half:
    """What both loops' parts share: keeping the twin's store in step with this process's
    (the twin holds ``states[:known]`` and their index or set after each request's sync),
    expanding claimed states as the twin does (new states stored for the time of one answer
    and sent with the properties found at them), and storing an answer's states. What the
    loop makes of each state expanded (its *rows*) is the subclass's."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.known = self.n0 = 0
        self.hits: dict[int, int] = {}  # new state (from ``base`` on) -> properties found
        self.base = 0
        self.claims: Claims | None = None

    # -- this process ----------------------------------------------------------------
    def fork(self, claims: Claims) -> None:
        self.known, self.claims = len(self.store.states), claims

    def ask(self, mid: int, hi: int) -> bytes:
        states = self.store.states
        sync, self.known = states[self.known:], len(states)
        return marshal.dumps((mid, hi, sync))

    def side(self, lo: int, hi: int) -> bytes:
        """States ``lo..hi`` expanded as the twin would expand them: the answer's new states
        are dropped from the store again (:meth:`merge` stores them, in order)."""
        store = self.store
        saved = store.parent, store.via, store.found_in, store.stop_mask, store.cap
        n0 = len(store.states)
        self._restart()
        mark = self._mark()
        try:
            self._quiet()
            self._run(lo, hi)
            return self._message(n0, lo, self._rows(mark, True), True)
        finally:
            self._drop(n0)
            self._unmark(mark)
            store.parent, store.via, store.found_in, store.stop_mask, store.cap = saved

    # -- the twin ----------------------------------------------------------------------
    def enter(self) -> None:
        self._quiet()
        self.n0 = self.known

    def sync(self, request: bytearray) -> tuple[int, int]:
        """Store the states of the request (this process's since the last one), then start
        this level's parents and actions anew; returns the part to expand."""
        mid, hi, sync = marshal.loads(request)
        store, states = self.store, self.store.states
        if store.index is not None:
            store.index.update(zip(sync, range(len(states), len(states) + len(sync))))
        else:
            store.seen.update(sync)  # type: ignore[union-attr]
        states += sync
        self.n0 = len(states)
        self._restart()
        return mid, hi

    def claimed(self, mid: int) -> Iterator[bytes]:
        """The twin's answer: the states it claims of the part from ``mid`` on, expanded; in
        messages of about :data:`BATCH` states once this process listens."""
        assert self.claims is not None
        claims = self.claims
        mark, lo = self._mark(), mid
        while (got := claims.front(CHUNK)) is not None:
            self._run(*got)
            if got[1] - lo >= BATCH and claims.listening():
                yield self._message(self.n0, lo, self._rows(mark), False)
                mark, lo = self._mark(), got[1]
        yield self._message(self.n0, lo, self._rows(mark), True)

    def idle(self) -> bool:
        """Work beside, while the twin waits for a request: False, nothing to do."""
        return False

    @property
    def gathers(self) -> bool:
        """Whether the twin works beside (:meth:`Split.gather`)."""
        return False

    def tidy(self) -> None:
        """Drop the twin's new states: the next request brings them, merged, in order."""
        self._drop(self.n0)
        self._unmark(self._empty)

    # -- both ----------------------------------------------------------------------------
    def _restart(self) -> None:
        store = self.store
        store.parent, store.via, self.hits, self.base = array("i"), array("i"), {}, 0

    def _quiet(self) -> None:
        """Store new states without evaluating properties for a stop or stopping (where a
        stop falls is this process's to decide, when it stores the answer), noting the
        properties found at each in ``hits``."""
        store = self.store
        found = store.found_in

        def note(t: int, seen: int) -> int:
            m = found(t, 0)
            if m:
                self.hits[len(store.parent) - 1 - self.base] = m  # new() appends, then asks
            return 0

        store.found_in, store.stop_mask, store.cap = note, 0, -1

    def _message(self, n0: int, lo: int, rows: Any, last: bool) -> bytes:
        """A message of an answer: the new states stored since the last one (the answer's
        are numbered from ``n0``) by expanding states from ``lo`` on, with their parents and
        actions and the properties found at each (by position, where there are any: the
        merge stores them without evaluating a property), and ``rows``."""
        store, k = self.store, self.base
        out = marshal.dumps((last, n0, lo, store.states[n0 + k:], store.parent[k:].tobytes(),
                             store.via[k:].tobytes(), self.hits, rows))
        self.hits, self.base = {}, len(store.parent)
        return out

    def _drop(self, n0: int) -> None:
        """Drop the states stored from ``n0`` on."""
        store = self.store
        states = store.states
        if store.index is not None:
            index = store.index
            for t in states[n0:]:
                del index[t]
        else:
            store.seen.difference_update(states[n0:])  # type: ignore[union-attr]
        del states[n0:]

    def _merged(self, answer: memoryview | bytes,
                acc: array) -> tuple[bool, int, int, int, Any]:
        """Store a message's new states in order, each unless already stored, with the
        properties found at them; appends the index of each to ``acc`` (the answer's so far;
        0 past a stop); returns whether it was the last, the answer's ``n0``, ``lo``, the
        state whose expansion was cut off by a stop (``search.Full``) or -1, and the rows."""
        last, n0, lo, states, par_b, via_b, hits, rows = marshal.loads(answer)
        index, cut = merge_states(self.store, states, from_bytes("i", par_b),
                                  from_bytes("i", via_b), hits)
        acc.extend(index)
        return last, n0, lo, cut, rows

    def beside_part(self, lo: int, hi: int) -> Any:
        raise NotImplementedError  # only where ``gathers``

    def gathered(self, answer: memoryview, mine: list[Any]) -> Any:
        raise NotImplementedError  # only where ``gathers``

    _empty: Any = None  # the mark of empty rows

    def _mark(self) -> Any:
        raise NotImplementedError

    def _unmark(self, mark: Any) -> None:
        raise NotImplementedError

    def _run(self, lo: int, hi: int) -> None:
        raise NotImplementedError

    def _rows(self, mark: Any, own: bool = False) -> Any:
        raise NotImplementedError


class CountHalf(_Half):
    """The split of the loop without edges: ``count(k)`` expands state ``k`` and returns
    its transitions. An answer's rows are the transitions of each state expanded."""

    _empty = 0

    def __init__(self, store: _Store, count: Callable[[int], int]) -> None:
        super().__init__(store)
        self.count, self.counts = count, array("I")

    def serve(self, request: bytearray) -> Iterator[bytes]:
        return self.claimed(self.sync(request)[0])

    def _mark(self) -> int:
        return len(self.counts)

    def _unmark(self, mark: int) -> None:
        del self.counts[mark:]

    def _run(self, lo: int, hi: int) -> None:
        count = self.count
        self.counts.extend([count(k) for k in range(lo, hi)])

    def _rows(self, mark: int, own: bool = False) -> bytes:
        return self.counts[mark:].tobytes()

    def merge(self, answer: memoryview | bytes, acc: array) -> tuple[int, int, bool]:
        """Store a message's states; returns the transitions to count, the state cut off by
        a stop (or -1), whose own transitions are not counted, as the generated loop does,
        and whether it was the answer's last."""
        last, _, lo, cut, rows = self._merged(answer, acc)
        counts = from_bytes("I", rows)
        return sum(counts[:cut - lo] if cut >= 0 else counts), cut, last


class EdgeHalf(_Half):
    """The split of the loop that keeps every edge: ``expand(lo, hi)`` expands states
    ``lo..hi``, appending to ``first``, ``packed``, ``masks`` and ``frames``. An answer's
    rows are those it appended (the twin's arrays start empty for each request), with the
    instance mappings the twin met first; ``trans`` maps the twin's mapping ids to this
    process's."""

    _empty = (0, 0, 0)

    def __init__(self, store: _Store, expand: Callable[[int, int], int], first: array,
                 packed: array, masks: array | list, frames: Frames,
                 beside: Callable[[], Beside] | None = None) -> None:
        super().__init__(store)
        self.expand, self.first, self.packed, self.masks = expand, first, packed, masks
        self.frames, self.trans, self.sent = frames, [0], 0
        self.beside, self.work = beside, None
        self.mine: Beside | None = None  # this process's, at the end (:meth:`beside_part`)

    def fork(self, claims: Claims) -> None:
        super().fork(claims)
        self.trans = list(range(len(self.frames.maps)))

    def enter(self) -> None:
        super().enter()
        self.sent = len(self.frames.maps)
        self._unmark(self._empty)
        self.work = self.beside() if self.beside is not None else None

    @property
    def gathers(self) -> bool:
        return self.beside is not None

    def idle(self) -> bool:
        """A block of the work beside (on the states of the last request), if any is left."""
        work, n = self.work, len(self.store.states)
        if work is None or work.done >= n:
            return False
        work.extend(min(n, work.done + IDLE_BLOCK))
        return work.done < n

    def serve(self, request: bytearray) -> bytes | Iterator[bytes]:
        """The twin's part of a level, or (``mid`` -1: the search is complete) what its work
        beside made of every state."""
        mid, hi = self.sync(request)
        if mid >= 0:
            return self.claimed(mid)
        work, claims = self.work, self.claims
        if work is None or claims is None:
            return b""
        if claims.front(max(1, work.done)) is not None:  # what it has done, then the rest
            while (got := claims.front(IDLE_BLOCK)) is not None:
                work.extend(got[1])
        return work.dump(claims.split())

    def beside_part(self, lo: int, hi: int) -> Any:
        """In this process, the work beside on states ``lo..hi`` (:meth:`Split.gather`)."""
        return self._own().part(lo, hi)

    def gathered(self, answer: memoryview, mine: list[Any]) -> Any:
        """The twin's work beside (``answer``) followed by this process's parts."""
        return self._own().joined(answer, mine)

    def _own(self) -> Beside:
        if self.mine is None:
            assert self.beside is not None
            self.mine = self.beside()
        return self.mine

    def _mark(self) -> tuple[int, int, int]:
        return len(self.first), len(self.packed), len(self.masks)

    def _unmark(self, mark: tuple[int, int, int]) -> None:
        del self.first[mark[0]:]
        del self.packed[mark[1]:]
        del self.masks[mark[2]:]

    def _run(self, lo: int, hi: int) -> None:
        self.expand(lo, hi)

    def _rows(self, mark: tuple[int, int, int], own: bool = False) -> tuple:
        """The rows appended since ``mark``: edge offsets counted from its first edge, edges,
        waiting masks, and the instance mappings met first (None: this process's own)."""
        nf, npk, nm = mark
        masks = self.masks[nm:]
        maps = None
        if not own:
            maps, self.sent = self.frames.maps[self.sent:], len(self.frames.maps)
        return (shifted(self.first[nf:].tobytes(), -npk), self.packed[npk:].tobytes(),
                masks.tobytes() if isinstance(masks, array) else masks, maps)

    def merge(self, answer: memoryview | bytes, acc: array) -> tuple[int, int, bool]:
        """Store a message's states and append its rows of edges, renumbered (states, and the
        twin's instance mappings); returns (0, the state cut off by a stop or -1, whether it
        was the answer's last)."""
        last, n0, _, cut, (first_b, packed_b, masks, maps) = self._merged(answer, acc)
        moved: list[int] = []
        if maps is not None:
            self.trans += [self.frames.id_of(m) for m in maps]
            if not all(k == m for k, m in enumerate(self.trans)):
                moved = self.trans[1:]
        first, packed = self.first, self.packed
        first.frombytes(shifted(first_b, len(packed)))
        packed.frombytes(renumber_edges(packed_b, n0, acc, 1, moved))
        if isinstance(self.masks, array):
            self.masks.frombytes(masks)
        else:
            self.masks.extend(masks)
        return 0, cut, last


def merge_states(store: _Store, states: list[int], par: array, via: array,
                 hits: dict[int, int]) -> tuple[list[int], int]:
    """Store ``states`` (another process's new states, with their parents, actions and the
    properties found at them) in order, each unless already stored; returns the index of
    each (0 past a stop) and the state whose expansion was cut off by a stop
    (``search.Full``), or -1."""
    index = [0] * len(states)
    look = store.index.get if store.index is not None else None
    new, seen, hit = store.new, store.seen, hits.get
    k = 0
    try:
        if look is not None:
            for k, t in enumerate(states):
                j = look(t)
                index[k] = new(t, via[k], par[k], hit(k, 0)) if j is None else j
        else:
            for k, t in enumerate(states):
                if t not in seen:
                    new(t, via[k], par[k], hit(k, 0))
    except Full:
        return index, par[k]
    return index, -1
